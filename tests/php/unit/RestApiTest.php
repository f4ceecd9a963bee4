<?php

namespace PbxFederationTests;

use MikoPBX\Modules\Config\ConfigClass;
use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\CoreReloader;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Lib\PythonEnvironment;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use PHPUnit\Framework\TestCase;

/** moduleRestAPICallback answers {result, data, messages} from the worker's JSON. */
final class RestApiTest extends TestCase
{
    /** @var string */
    private $root;
    /** @var string */
    private $moduleDir;
    /** @var FakeRunner */
    private $runner;

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        ConfigClass::$testModulesDir = $this->root;
        ConfigClass::$testGeneralSettings = ['PBXLanguage' => 'ru-ru'];
        TempDir::fakeVenv($this->moduleDir);
        $this->runner = new FakeRunner();
    }

    protected function tearDown(): void
    {
        ConfigClass::$testGeneralSettings = [];
        TempDir::remove($this->root);
    }

    private function call(array $request): array
    {
        $log = new ModuleLog(static function (): void {
        });
        $paths = new WorkerPaths($this->moduleDir);
        $conf = new PbxFederationConf();
        $conf->useCollaborators(
            new WorkerClient($paths, $this->runner, $log),
            $log,
            new PythonEnvironment($paths, $this->runner, ['/nonexistent']),
            new CoreReloader($log),
            new Texts(null, 'ru')
        );
        $result = $conf->moduleRestAPICallback($request)->getResult();
        return ['result' => $result['result'], 'data' => $result['data'], 'messages' => $result['messages']];
    }

    private function answer(string $json, int $exitCode = 0): void
    {
        $this->runner->responder = static function () use ($json, $exitCode): CommandResult {
            return new CommandResult($exitCode, $json, '');
        };
    }

    public function testValidateWithProblemsIsRefusedWithTranslatedMessages(): void
    {
        $this->answer(json_encode(['ok' => false, 'problems' => [
            ['code' => 'E_NAME_INVALID', 'field' => 'name', 'params' => ['value' => '1spb'],
                'message' => ['ru' => 'Имя «1spb» недопустимо', 'en' => "Name '1spb' is invalid"]],
            ['code' => 'W_SECRET_WEAK', 'field' => 'secret'],
        ]]), 1);
        $answer = $this->call(['action' => 'validate', 'data' => ['peer' => ['name' => '1spb', 'secret' => 'x']]]);
        self::assertFalse($answer['result']);
        self::assertSame(['name: Имя «1spb» недопустимо'], $answer['messages']['error']);
        self::assertSame(
            ['secret: Секрет слабый: используйте не меньше 16 случайных символов (кнопка «Сгенерировать»).'],
            $answer['messages']['warning']
        );
        self::assertSame(['E_NAME_INVALID', 'W_SECRET_WEAK'], array_column($answer['data']['problems'], 'code'));
    }

    public function testInviteRunsTheCliAndReturnsTheInvitation(): void
    {
        $this->answer('{"ok": true, "invitation": "pbxfed1:abc", "id": "0a1b", "file": "/x/invitation-0a1b.txt"}');
        $answer = $this->call(['action' => 'invite', 'data' => [
            'address' => '127.0.0.2; reboot', 'ttl' => '600', 'from' => '127.0.0.3',
        ]]);
        self::assertTrue($answer['result']);
        self::assertSame('pbxfed1:abc', $answer['data']['invitation']);
        $d = $this->moduleDir;
        self::assertSame([[
            "$d/venv/bin/python", '-m', 'python_worker', 'invite', 'create',
            '--mikopbx-db', '/cf/conf/mikopbx.db', '--module-db', "$d/db/module.db", '--state-dir', "$d/db/state",
            '--sync-port', '7787', '--ttl', '600', '--json', '--address', '127.0.0.2; reboot', '--from', '127.0.0.3',
        ]], $this->runner->runs);
    }

    public function testAcceptOfAUsedInvitationIsRefusedWithTheTranslatedReason(): void
    {
        $this->answer(json_encode(['ok' => false, 'problems' => [
            ['code' => 'E_INVITE_USED', 'field' => 'invitation', 'params' => ['value' => 'moscow'],
                'message' => ['ru' => 'Приглашение станции «moscow» уже использовано; попросите новое.',
                    'en' => "The invitation from station 'moscow' has already been used; ask for a new one."]],
        ]]), 2);
        $answer = $this->call(['action' => 'accept', 'data' => ['invitation' => ' pbxfed1:abc ']]);
        self::assertFalse($answer['result']);
        self::assertSame(['invitation: Приглашение станции «moscow» уже использовано; попросите новое.'],
            $answer['messages']['error']);
        self::assertSame('pbxfed1:abc', $this->runner->runs[0][5]);
    }

    public function testAcceptWithoutTextIsRefusedWithoutRunningAnything(): void
    {
        $answer = $this->call(['action' => 'accept', 'data' => []]);
        self::assertFalse($answer['result']);
        self::assertSame([], $this->runner->runs);
    }

    public function testValidateWithOnlyWarningsPasses(): void
    {
        $this->answer('{"ok": true, "problems": [{"code": "W_PEER_UNREACHABLE", "field": "host"}]}');
        $answer = $this->call(['action' => 'validate', 'data' => ['peer' => '{"name": "spb"}']]);
        self::assertTrue($answer['result']);
        self::assertArrayNotHasKey('error', $answer['messages']);
        self::assertCount(1, $answer['messages']['warning']);
    }

    public function testValidatePassesThePeerAsOneArgument(): void
    {
        $this->answer('{"ok": true, "problems": []}');
        $peer = ['name' => 'spb', 'host' => '127.0.0.2; rm -rf /', 'secret' => "it's \$(reboot) `x`", 'note' => "a\nb"];
        $this->call(['action' => 'validate', 'data' => ['peer' => $peer]]);
        $d = $this->moduleDir;
        self::assertSame([[
            "$d/venv/bin/python", '-m', 'python_worker', 'peers', 'validate',
            '--module-db', "$d/db/module.db", '--mikopbx-db', '/cf/conf/mikopbx.db',
            '--json', json_encode($peer, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES),
        ]], $this->runner->runs);
    }

    public function testValidateSettingsPassesThemAsOneArgumentAndRefusesOnErrors(): void
    {
        $this->answer('{"ok": false, "problems": [{"code": "E_PATTERN_INVALID", "field": "own_patterns", '
            . '"message": {"ru": "Шаблон номеров «2X!» не разобран", "en": "cannot be parsed"}}]}');
        $settings = ['station_name' => 'moscow', 'own_patterns' => "2X!'; reboot"];
        $answer = $this->call(['action' => 'validate-settings', 'data' => ['settings' => $settings]]);
        self::assertFalse($answer['result']);
        self::assertSame(['own_patterns: Шаблон номеров «2X!» не разобран'], $answer['messages']['error']);
        $d = $this->moduleDir;
        self::assertSame([[
            "$d/venv/bin/python", '-m', 'python_worker', 'settings', 'validate',
            '--module-db', "$d/db/module.db", '--mikopbx-db', '/cf/conf/mikopbx.db',
            '--json', json_encode($settings, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES),
        ]], $this->runner->runs);
    }

    public function testValidateWithoutPeerDataIsRefused(): void
    {
        $answer = $this->call(['action' => 'validate', 'data' => []]);
        self::assertFalse($answer['result']);
        self::assertSame(['Не переданы данные станции для проверки.'], $answer['messages']['error']);
        self::assertSame([], $this->runner->runs);
    }

    public function testStatusReturnsTheWorkersJson(): void
    {
        $status = ['worker' => 'running', 'peers' => [['name' => 'spb', 'trunk' => 'ok', 'rtt_ms' => 12]]];
        $this->answer(json_encode($status));
        $answer = $this->call(['action' => 'status']);
        self::assertSame(['result' => true, 'data' => $status, 'messages' => []], $answer);
        $d = $this->moduleDir;
        self::assertSame([["$d/venv/bin/python", '-m', 'python_worker', 'status', '--state-dir', "$d/db/state", '--json']],
            $this->runner->runs);
    }

    public function testCheckPassesTheNameAsOneArgument(): void
    {
        $this->answer('{"ok": true, "rtt_ms": 3}');
        $answer = $this->call(['action' => 'check', 'data' => ['name' => 'spb --json; id']]);
        self::assertTrue($answer['result']);
        self::assertSame(['check-peer', 'spb --json; id', '--json'], array_slice($this->runner->runs[0], 3));
    }

    public function testPreviewIsADryRunApply(): void
    {
        $this->answer('{"ok": true, "create": ["SIP-TRUNK-0123456789"], "remove": []}');
        $answer = $this->call(['action' => 'preview']);
        self::assertTrue($answer['result']);
        $d = $this->moduleDir;
        self::assertSame(['apply', '--dry-run', '--json', '--mikopbx-db', '/cf/conf/mikopbx.db',
            '--module-db', "$d/db/module.db", '--state-dir', "$d/db/state",
            // the hints as the running worker renders them (with its lamp devices); a dry run runs no command
            '--devstate-cmd', "/usr/sbin/asterisk -rx 'devstate change {device} {state}'"],
            array_slice($this->runner->runs[0], 3));
    }

    public function testApplyStartsAStoppedWorkerAndReconcilesARunningOne(): void
    {
        $answer = $this->call(['action' => 'apply']);
        self::assertTrue($answer['result']);
        self::assertCount(1, $this->runner->spawns);
        self::assertSame('run', $this->runner->spawns[0][0][3]);

        $answer = $this->call(['action' => 'apply']);
        self::assertTrue($answer['result']);
        self::assertSame('reconcile', $this->runner->runs[0][3]);
    }

    public function testGarbageFromTheWorkerIsAnErrorNotACrash(): void
    {
        $this->runner->responder = static function (): CommandResult {
            return new CommandResult(2, 'Traceback', 'ImportError: zmq');
        };
        $answer = $this->call(['action' => 'status']);
        self::assertFalse($answer['result']);
        self::assertStringContainsString('ImportError: zmq', $answer['messages']['error'][0]);
    }

    public function testUnknownActionIsRefused(): void
    {
        $answer = $this->call(['action' => 'reboot']);
        self::assertFalse($answer['result']);
        self::assertSame([], $this->runner->runs);
    }
}
