<?php
/*
 * /pbxcore/api/modules/ModulePbxFederation/<action> as Core 2026.1.223 serves it: the REST controller
 * (PBXCoreREST/Controllers/Modules/ModulesControllerBase) queues the request for WorkerApiCommands, which
 * calls PbxExtensionsProcessor::callBack($request); that finds the enabled module's ConfigClass and calls
 * its moduleRestAPICallback($request). The request array here has the shape BaseController::
 * prepareRequestMessage builds (processor, data, action, module, input, REQUEST_METHOD, ...).
 * No worker is installed in this runtime (no venv): the answers are the module's "not installed" ones.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Common\Providers\PBXConfModulesProvider;
use MikoPBX\PBXCoreREST\Lib\PbxExtensionsProcessor;
use MikoPBX\PBXCoreREST\Lib\PBXApiResult;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class RestCallbackTest extends RealCoreTestCase
{
    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        self::assertTrue((new PbxExtensionSetup(RealCore::MODULE_ID))->installDB());
    }

    private static function setEnabled(bool $enabled): void
    {
        $row = PbxExtensionModules::findFirstByUniqid(RealCore::MODULE_ID);
        $row->disabled = $enabled ? '0' : '1';
        self::assertTrue($row->save());
        PBXConfModulesProvider::recreateModulesProvider();
    }

    /** @param array<string, mixed> $data */
    private static function request(string $action, array $data = [], string $module = RealCore::MODULE_ID): array
    {
        return [
            'processor' => PbxExtensionsProcessor::class,
            'data' => $data + ['ip_srv' => '127.0.0.1'],
            'action' => $action,
            'async' => false,
            'asyncChannelId' => '',
            'module' => $module,
            'input' => '',
            'REQUEST_METHOD' => $data === [] ? 'GET' : 'POST',
            'debug' => false,
            'httpMethod' => $data === [] ? 'GET' : 'POST',
        ];
    }

    public function testStatusReachesTheModulesCallback(): void
    {
        self::setEnabled(true);
        $res = PbxExtensionsProcessor::callBack(self::request('status'));
        self::assertInstanceOf(PBXApiResult::class, $res);
        self::assertSame(PbxFederationConf::class . '::moduleRestAPICallback', $res->processor);
        self::assertSame('status', $res->function);
        self::assertFalse($res->success, 'no worker runs here: no status.json');
        $expected = Di::getDefault()->getShared('translation')->_('module_pbx_federation_WorkerStopped');
        self::assertNotSame('module_pbx_federation_WorkerStopped', $expected, 'the module\'s Messages are merged into Core\'s translation');
        self::assertSame([$expected], $res->messages['error']);
        // What the REST layer sends back to the page.
        $result = $res->getResult();
        self::assertFalse($result['result']);
        self::assertSame([$expected], $result['messages']['error']);
    }

    public function testModuleIdIsMatchedCaseInsensitivelyAndActionsAreTheModules(): void
    {
        self::setEnabled(true);
        $res = PbxExtensionsProcessor::callBack(self::request('nosuchaction', [], 'modulepbxfederation'));
        self::assertSame(PbxFederationConf::class . '::moduleRestAPICallback', $res->processor);
        self::assertSame(["unknown action 'nosuchaction' in ModulePbxFederation"], $res->messages['error']);

        $res = PbxExtensionsProcessor::callBack(self::request('validate', ['peer' => '']));
        self::assertFalse($res->success);
        self::assertSame(
            [Di::getDefault()->getShared('translation')->_('module_pbx_federation_PeerDataMissing')],
            $res->messages['error']
        );
    }

    public function testDisabledModuleIsNotReached(): void
    {
        self::setEnabled(false);
        $res = PbxExtensionsProcessor::callBack(self::request('status'));
        self::assertSame(PbxExtensionsProcessor::class . '::callBack', $res->processor);
        self::assertStringContainsString('Unknown action - status', implode(' ', $res->messages['error']));
    }
}
