<?php
/*
 * The module's REST actions with a real worker behind them, as Core 2026.1.223's API worker runs them
 * (PbxExtensionsProcessor::callBack in WorkerApiCommands, a CLI process):
 *  - "Check connection" (`check`) reaches the running worker through bin/pbxfed with no location options: the
 *    module lives in this run's custom_modules, not on /storage/usbdisk1, and the worker's state dir is found
 *    from bin/pbxfed's own place (the review's "--state-dir missing" finding);
 *  - the admin's language: in the API worker Core's `language` service answers the WebAdminLanguage setting
 *    (LanguageProvider::getLanguageForCli for WorkerApiCommands); the module's own texts and the worker's problem
 *    texts follow it, for an English and a Russian admin. (The admin pages' web path, where the service reads the
 *    JWT, needs a web SAPI and is not run here; it is the same service, Lib/AdminLanguage.php.)
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\PBXCoreREST\Lib\PbxExtensionsProcessor;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class RestWorkerTest extends RealCoreTestCase
{
    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        RealCore::provideWorkerRuntime();
        RealCore::installAndEnable();
        // The secret on stdin (`--secret -`), as the admin form passes it: never in the process arguments.
        foreach ([[['settings', 'set', '--station-name', 'moscow', '--own-patterns', '2XX'], null],
                     [['peers', 'add', '--name', 'spb', '--host', '127.0.0.3', '--patterns', '3XX', '--secret', '-'],
                         'Spb-Trunk-Secret-0123456789abcdef']] as [$args, $stdin]) {
            [$rc, $out, $err] = RealCore::pbxfed($args, 120, [], $stdin);
            self::assertSame(0, $rc, "$out\n$err");
        }
    }

    public static function tearDownAfterClass(): void
    {
        RealCore::stopWorker();
        @cli_set_process_title('phpunit');
        parent::tearDownAfterClass();
    }

    /** @param array<string, mixed> $data */
    private static function call(string $action, array $data = []): \MikoPBX\PBXCoreREST\Lib\PBXApiResult
    {
        return PbxExtensionsProcessor::callBack([
            'processor' => PbxExtensionsProcessor::class, 'data' => $data + ['ip_srv' => '127.0.0.1'],
            'action' => $action, 'async' => false, 'asyncChannelId' => '', 'module' => RealCore::MODULE_ID,
            'input' => '', 'REQUEST_METHOD' => 'POST', 'debug' => false, 'httpMethod' => 'POST',
        ]);
    }

    /** A fresh DI inside "the API worker" with this WebAdminLanguage. */
    private static function asApiWorker(string $language): void
    {
        $setting = PbxSettings::findFirstByKey('WebAdminLanguage') ?? new PbxSettings();
        $setting->key = 'WebAdminLanguage';
        $setting->value = $language;
        self::assertTrue($setting->save());
        self::assertTrue(cli_set_process_title('MikoPBX\\PBXCoreREST\\Workers\\WorkerApiCommands'));
        RealCore::bootDi();
        self::assertSame($language, Di::getDefault()->getShared('language'));
    }

    public function testCheckConnectionReachesTheRunningWorkerWithoutLocationOptions(): void
    {
        self::assertStringStartsNotWith('/storage/usbdisk1', RealCore::moduleDir());
        $res = self::call('check', ['name' => 'spb']);
        self::assertFalse($res->success, 'no worker yet');
        // The worker's client looked in the module's own state dir (found from bin/pbxfed's place) and said so.
        self::assertStringContainsString('(state dir ' . RealCore::moduleDir() . '/db/state)', (string)($res->data['error'] ?? ''),
            json_encode($res->getResult()));
        self::assertSame([Di::getDefault()->getShared('translation')->_('module_pbx_federation_WorkerStopped')],
            $res->messages['error']);

        // "Apply now" starts a stopped worker (FederationApi), which then answers "Check connection".
        self::assertTrue(self::call('apply')->success);
        $socket = RealCore::moduleDir() . '/db/state/control.sock';
        $deadline = microtime(true) + 30;
        while (!file_exists($socket) && microtime(true) < $deadline) {
            usleep(100000);
        }
        self::assertFileExists($socket, 'the worker started');
        $deadline = microtime(true) + 30;
        do {
            $res = self::call('check', ['name' => 'spb']);
        } while (!$res->success && microtime(true) < $deadline && usleep(200000) === null);
        self::assertTrue($res->success, json_encode($res->getResult()));
        self::assertSame('spb', $res->data['peer']['name']);
        self::assertTrue($res->data['peer']['planned']);

        $res = self::call('check', ['name' => 'nosuch']);
        self::assertFalse($res->success);
        self::assertSame("no peer named 'nosuch'", $res->data['error'] ?? '');
    }

    /** @return array<string, array{0: string, 1: string}> */
    public static function admins(): array
    {
        return ['English admin' => ['en', 'Peer name'], 'Russian admin' => ['ru', 'Имя']];
    }

    #[\PHPUnit\Framework\Attributes\DataProvider('admins')]
    public function testTheAdminsLanguageIsTheOneCoresLanguageServiceGives(string $language, string $word): void
    {
        self::asApiWorker($language);
        try {
            $t = Di::getDefault()->getShared('translation');
            // The module's own text (its Messages/<lang>.php through Core's translation).
            $res = self::call('validate', ['peer' => '']);
            self::assertSame([$t->_('module_pbx_federation_PeerDataMissing')], $res->messages['error']);
            $own = require RealCore::moduleDir() . "/Messages/$language.php";
            self::assertSame([$own['module_pbx_federation_PeerDataMissing']], $res->messages['error']);
            // The worker's problem texts (python_worker/core/problems.py), chosen by Lib/AdminLanguage.php.
            $res = self::call('validate', ['peer' => json_encode(['name' => '', 'host' => '127.0.0.9',
                'patterns' => '9XX', 'secret' => 'Another-Trunk-Secret-0123456789'])]);
            self::assertFalse($res->success);
            $problem = $res->data['problems'][0];
            self::assertSame($problem['message'][$language], $problem['text']);
            self::assertStringContainsString($problem['text'], implode("\n", $res->messages['error']));
            $other = $language === 'ru' ? 'en' : 'ru';
            self::assertNotSame($problem['message'][$other], $problem['text']);
            self::assertSame($language === 'ru', preg_match('/\p{Cyrillic}/u', $problem['text']) === 1, $problem['text']);
        } finally {
            @cli_set_process_title('phpunit');
        }
    }
}
