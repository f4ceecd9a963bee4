<?php
/*
 * The hook class as Core loads and calls it (2026.1.223): PBXConfModulesProvider instantiates
 * Modules\ModulePbxFederation\Lib\PbxFederationConf only while the module is enabled; Core's config
 * classes (SIPConf, ExtensionsConf) call its hooks through AsteriskConfigClass::hookModulesMethod and
 * wrap each non-empty answer in "; ***** BEGIN BY ModulePbxFederation" / "END BY"; Core's own
 * generateConfig() then writes pjsip.conf and extensions.conf with those blocks in place.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Common\Providers\PBXConfModulesProvider;
use MikoPBX\Core\Asterisk\Configs\ExtensionsConf;
use MikoPBX\Core\Asterisk\Configs\SIPConf;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class HooksTest extends RealCoreTestCase
{
    private const HOOKS = [
        'generatePeersPj' => "[fedtest-pub]\ntype=outbound-publish\nserver_uri=sip:moscow@127.0.0.3:5060\n",
        'extensionGenContexts' => "[fedtest-incoming-custom]\nexten => _X!,1,Hangup()\n",
        'extensionGenInternalTransfer' => "exten => _3XX,1,Goto(internal,\${EXTEN},1)\n",
        'extensionGenHints' => "exten => 301,hint,PJSIP/301\n",
    ];

    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        self::assertTrue((new PbxExtensionSetup(RealCore::MODULE_ID))->installDB());
    }

    private static function setEnabled(bool $enabled): void
    {
        $row = PbxExtensionModules::findFirstByUniqid(RealCore::MODULE_ID);
        self::assertNotNull($row);
        $row->disabled = $enabled ? '0' : '1';
        self::assertTrue($row->save());
        PBXConfModulesProvider::recreateModulesProvider();
    }

    private static function writeHooks(?array $hooks): void
    {
        $dir = RealCore::moduleDir() . '/db/state';
        @mkdir($dir, 0755, true);
        if ($hooks === null) {
            @unlink("$dir/hooks.json");
            return;
        }
        file_put_contents("$dir/hooks.json", json_encode($hooks));
    }

    private static function block(string $text): string
    {
        return "\n; ***** BEGIN BY ModulePbxFederation\n" . rtrim($text) . "\n; ***** END BY ModulePbxFederation\n";
    }

    /** The name of the [section] a text sits in. */
    private static function sectionOf(string $conf, string $needle): string
    {
        $pos = strpos($conf, $needle);
        self::assertNotFalse($pos, "not found: $needle");
        preg_match_all('/^\[([^\]]+)\]/m', substr($conf, 0, $pos), $m);
        return (string)end($m[1]);
    }

    public function testProviderLoadsTheHookClassOnlyWhileEnabled(): void
    {
        self::setEnabled(false);
        $classes = array_map('get_class', Di::getDefault()->getShared('pbxConfModules'));
        self::assertNotContains(PbxFederationConf::class, $classes);

        self::setEnabled(true);
        $objects = Di::getDefault()->getShared('pbxConfModules');
        $ours = array_values(array_filter($objects, static fn ($o) => $o instanceof PbxFederationConf));
        self::assertCount(1, $ours);
        self::assertSame(RealCore::MODULE_ID, $ours[0]->moduleUniqueId);
    }

    public function testEachStringHookComesBackWrappedInCoresMarkers(): void
    {
        self::setEnabled(true);
        self::writeHooks(self::HOOKS);
        $sip = new SIPConf();
        self::assertSame(self::block(self::HOOKS['generatePeersPj']), $sip->hookModulesMethod('generatePeersPj'));
        // Core's own internal config classes answer some hooks too (unwrapped); ours appears once, wrapped.
        $ext = new ExtensionsConf();
        foreach (['extensionGenContexts', 'extensionGenInternalTransfer', 'extensionGenHints'] as $hook) {
            $out = $ext->hookModulesMethod($hook);
            self::assertSame(1, substr_count($out, self::block(self::HOOKS[$hook])), $hook);
            self::assertSame(1, substr_count($out, 'BEGIN BY '), $hook);
        }
        // Without hooks.json (the worker has not rendered yet) the hooks add nothing at all.
        self::writeHooks(null);
        self::assertSame('', (new SIPConf())->hookModulesMethod('generatePeersPj'));
        self::assertStringNotContainsString('BEGIN BY', (new ExtensionsConf())->hookModulesMethod('extensionGenHints'));
    }

    public function testCoresGeneratedPjsipAndExtensionsConfCarryTheBlocksInTheirSections(): void
    {
        self::setEnabled(true);
        self::writeHooks(self::HOOKS);
        $etc = RealCore::settings()['asterisk']['astetcdir'];
        @unlink("$etc/pjsip.conf");
        @unlink("$etc/extensions.conf");
        (new SIPConf())->generateConfig();
        (new ExtensionsConf())->generateConfig();
        $pjsip = (string)file_get_contents("$etc/pjsip.conf");
        $ext = (string)file_get_contents("$etc/extensions.conf");

        self::assertStringContainsString(self::block(self::HOOKS['generatePeersPj']), $pjsip);
        self::assertStringContainsString(self::block(self::HOOKS['extensionGenContexts']), $ext);
        self::assertSame('internal-transfer', self::sectionOf($ext, self::block(self::HOOKS['extensionGenInternalTransfer'])));
        self::assertSame('internal-hints', self::sectionOf($ext, self::block(self::HOOKS['extensionGenHints'])));
        // The contexts hook starts a context of its own.
        self::assertSame('fedtest-incoming-custom', self::sectionOf($ext, 'exten => _X!,1,Hangup()'));

        // Disabled: Core no longer loads the class, the blocks are gone from a regenerated config.
        self::setEnabled(false);
        (new SIPConf())->generateConfig();
        (new ExtensionsConf())->generateConfig();
        self::assertStringNotContainsString('BEGIN BY ModulePbxFederation', (string)file_get_contents("$etc/pjsip.conf"));
        self::assertStringNotContainsString('BEGIN BY ModulePbxFederation', (string)file_get_contents("$etc/extensions.conf"));
    }
}
