<?php

namespace PbxFederationTests;

use MikoPBX\Modules\Config\ConfigClass;
use Modules\ModulePbxFederation\Lib\CoreReloader;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use PHPUnit\Framework\TestCase;

/** String hooks return exactly what the worker rendered, or '' with a log line. */
final class HooksTest extends TestCase
{
    /** @var string */
    private $root;
    /** @var string */
    private $moduleDir;
    /** @var array<int, array{0: string, 1: int}> */
    private $logged = [];

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        ConfigClass::$testModulesDir = $this->root;
    }

    protected function tearDown(): void
    {
        TempDir::remove($this->root);
    }

    private function conf(): PbxFederationConf
    {
        $log = new ModuleLog(function (string $message, int $level): void {
            $this->logged[] = [$message, $level];
        });
        $paths = new WorkerPaths($this->moduleDir);
        $runner = new FakeRunner();
        $conf = new PbxFederationConf();
        $conf->useCollaborators(
            new WorkerClient($paths, $runner, $log),
            $log,
            new CoreReloader($log),
            new Texts()
        );
        return $conf;
    }

    public function testReturnsTheRenderedTextOfEachHook(): void
    {
        $hooks = [
            'generatePeersPj' => "[spb-FED-IN]\ntype=auth\n",
            'extensionGenContexts' => "[SIP-TRUNK-0123456789-incoming-custom]\nexten => _X!,1,Return()\n",
            'extensionGenInternalTransfer' => "exten => _3XX,1,Goto(internal,\${EXTEN},1)\n",
            'extensionGenHints' => '',
        ];
        file_put_contents($this->moduleDir . '/db/state/hooks.json', json_encode($hooks));
        $conf = $this->conf();
        self::assertSame($hooks['generatePeersPj'], $conf->generatePeersPj());
        self::assertSame($hooks['extensionGenContexts'], $conf->extensionGenContexts());
        self::assertSame($hooks['extensionGenInternalTransfer'], $conf->extensionGenInternalTransfer());
        self::assertSame('', $conf->extensionGenHints());
        self::assertSame([], $this->logged);
    }

    public function testOnlyTheModulesFallbackRoutesGetTheRouteHookText(): void
    {
        $guard = "same => n,ExecIf(\$[\"\${FED_FALLBACK}\" != \"\${EXTEN}\"]?Return())\n";
        file_put_contents($this->moduleDir . '/db/state/hooks.json', json_encode(['generateOutRoutContext' => $guard]));
        $conf = $this->conf();
        $fallback = ['id' => '7', 'providerid' => 'SIP-PROVIDER-PSTN1',
            'note' => 'ModulePbxFederation: fallback peer spb pattern 3XX'];
        self::assertSame($guard, $conf->generateOutRoutContext($fallback));
        // The module's trunk routes, the admin's routes (whatever their note says) and rows without a note: nothing.
        foreach ([
            ['note' => 'ModulePbxFederation: peer spb pattern 3XX'],
            ['note' => 'PSTN operator, see ModulePbxFederation: fallback peer spb'],
            ['note' => ''],
            ['providerid' => 'SIP-PROVIDER-PSTN1'],
        ] as $route) {
            self::assertSame('', $conf->generateOutRoutContext($route), json_encode($route));
        }
        self::assertSame([], $this->logged);
    }

    public function testMissingFileGivesEmptyTextAndALogLine(): void
    {
        $conf = $this->conf();
        self::assertSame('', $conf->generatePeersPj());
        self::assertCount(1, $this->logged);
        self::assertStringContainsString('generatePeersPj', $this->logged[0][0]);
        self::assertStringContainsString('missing', $this->logged[0][0]);
    }

    public function testCorruptFileGivesEmptyTextAndAnErrorLine(): void
    {
        file_put_contents($this->moduleDir . '/db/state/hooks.json', '{"generatePeersPj": "[a]');
        $conf = $this->conf();
        self::assertSame('', $conf->extensionGenHints());
        self::assertCount(1, $this->logged);
        self::assertSame(LOG_ERR, $this->logged[0][1]);
        self::assertStringContainsString('not a JSON object', $this->logged[0][0]);
    }

    public function testNonStringEntryAndMissingKeyGiveEmptyText(): void
    {
        file_put_contents($this->moduleDir . '/db/state/hooks.json', json_encode(['generatePeersPj' => ['x']]));
        $conf = $this->conf();
        self::assertSame('', $conf->generatePeersPj());
        self::assertSame('', $conf->extensionGenContexts());
        self::assertCount(2, $this->logged);
        self::assertStringContainsString('not a string', $this->logged[0][0]);
        self::assertStringContainsString('no entry', $this->logged[1][0]);
    }

    public function testUnreadableFileGivesEmptyText(): void
    {
        if (function_exists('posix_getuid') && posix_getuid() === 0) {
            // root reads anything; a directory in the file's place is unreadable as a file for everyone.
            mkdir($this->moduleDir . '/db/state/hooks.json');
        } else {
            file_put_contents($this->moduleDir . '/db/state/hooks.json', '{}');
            chmod($this->moduleDir . '/db/state/hooks.json', 0000);
        }
        self::assertSame('', $this->conf()->generatePeersPj());
        self::assertNotEmpty($this->logged);
    }
}
