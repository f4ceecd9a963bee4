<?php
/*
 * module.json claims only what the suite proves: min_pbx_version is the Core release tag this suite runs
 * (2026.1.223). 2024.1 needs PHP 7.4 and Phalcon 4, which cannot run here, so it is not claimed; Core's own
 * checkCompatibility() (PbxExtensionSetupBase, the installer's first step) then refuses the zip on an older station
 * with Core's translated message.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Modules\Setup\PbxExtensionSetupBase;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class VersionClaimTest extends RealCoreTestCase
{
    private static function coreCheck(string $stationVersion): array
    {
        $row = PbxSettings::findFirstByKey('PBXVersion');
        $row->value = $stationVersion;
        self::assertTrue($row->save());
        RealCore::bootDi();
        $setup = new PbxExtensionSetup(RealCore::MODULE_ID);
        $ok = (new ReflectionMethod(PbxExtensionSetupBase::class, 'checkCompatibility'))->invoke($setup);
        return [$ok, $setup->getMessages()];
    }

    public function testTheClaimIsTheTagThisSuiteRuns(): void
    {
        $json = json_decode((string)file_get_contents(RealCore::moduleDir() . '/module.json'), true);
        $tag = basename(dirname(RealCore::coreDir() . '/x'));
        self::assertMatchesRegularExpression('/^2026\.1\.223-/', $tag, 'the suite runs Core 2026.1.223');
        self::assertSame('2026.1.223', $json['min_pbx_version']);
    }

    public function testCoreRefusesTheZipOnAnOlderStationAndTakesItOnThisOne(): void
    {
        [$ok] = self::coreCheck('2026.1.223');
        self::assertTrue($ok);
        [$ok, $messages] = self::coreCheck('2024.1.114');
        self::assertFalse($ok);
        $expected = Di::getDefault()->getShared('translation')->_('ext_ModuleDependsHigherVersion', ['version' => '2026.1.223']);
        self::assertSame([$expected], $messages);
    }
}
