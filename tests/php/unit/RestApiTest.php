<?php

namespace PbxFederationTests;

use MikoPBX\Modules\Config\ConfigClass;
use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\CoreReloader;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Phalcon\Di\Di;
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
        // The admin's language is Core's `language` service (the phones' PBXLanguage must not matter).
        ConfigClass::$testGeneralSettings = ['PBXLanguage' => 'en-en'];
        Di::setDefault(new Di(['language' => 'ru']));
        TempDir::fakeInstall($this->moduleDir);
        $this->runner = new FakeRunner();
    }

    protected function tearDown(): void
    {
        ConfigClass::$testGeneralSettings = [];
        Di::setDefault(null);
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

    private function pbxfed(string ...$words): array
    {
        return array_merge([$this->moduleDir . '/bin/pbxfed'], $words);
    }

    public function testValidateWithProblemsIsRefusedWithTheWorkersTextsInTheAdminsLanguage(): void
    {
        $this->answer(json_encode(['ok' => false, 'problems' => [
            ['code' => 'E_NAME_INVALID', 'severity' => 'error', 'field' => 'name', 'params' => ['value' => '1spb'],
                'message' => ['ru' => 'Имя «1spb» недопустимо', 'en' => "Name '1spb' is invalid"]],
            ['code' => 'W_SECRET_WEAK', 'severity' => 'warning', 'field' => 'secret',
                'message' => ['ru' => 'Пароль транка короче 16 символов', 'en' => 'The trunk secret is short']],
        ]]), 1);
        $answer = $this->call(['action' => 'validate', 'data' => ['peer' => ['name' => '1spb', 'secret' => 'x']]]);
        self::assertFalse($answer['result']);
        self::assertSame(['name: Имя «1spb» недопустимо'], $answer['messages']['error']);
        self::assertSame(['secret: Пароль транка короче 16 символов'], $answer['messages']['warning']);
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
        self::assertSame([$this->pbxfed('invite', 'create', '--ttl', '600', '--json', '--address', '127.0.0.2; reboot',
            '--from', '127.0.0.3')], $this->runner->runs);
    }

    public function testAcceptOfAUsedInvitationIsRefusedWithTheTranslatedReason(): void
    {
        $this->answer(json_encode(['ok' => false, 'problems' => [
            ['code' => 'E_INVITE_USED', 'severity' => 'error', 'field' => 'invitation', 'params' => ['value' => 'moscow'],
                'message' => ['ru' => 'Приглашение станции «moscow» уже использовано; попросите новое.',
                    'en' => "The invitation from station 'moscow' has already been used; ask for a new one."]],
        ]]), 2);
        $answer = $this->call(['action' => 'accept', 'data' => ['invitation' => ' pbxfed1:abc ']]);
        self::assertFalse($answer['result']);
        self::assertSame(['invitation: Приглашение станции «moscow» уже использовано; попросите новое.'],
            $answer['messages']['error']);
        // the invitation (it holds a one-time secret) goes on stdin, never in argv
        self::assertSame($this->pbxfed('invite', 'accept', '--timeout', '6', '--json'), $this->runner->runs[0]);
        self::assertSame('pbxfed1:abc', $this->runner->stdins[0]);
    }

    public function testAcceptWithoutTextIsRefusedWithTheWorkersReason(): void
    {
        $this->answer(json_encode(['ok' => false, 'problems' => [
            ['code' => 'E_INVITE_INVALID', 'severity' => 'error', 'field' => 'invitation',
                'message' => ['ru' => 'Приглашение не разобрано', 'en' => 'The invitation cannot be read']],
        ]]), 2);
        $answer = $this->call(['action' => 'accept', 'data' => []]);
        self::assertFalse($answer['result']);
        self::assertSame(['invitation: Приглашение не разобрано'], $answer['messages']['error']);
    }

    public function testValidateWithOnlyWarningsPasses(): void
    {
        $this->answer('{"ok": true, "problems": [{"code": "W_SECRET_WEAK", "severity": "warning", "field": "secret"}]}');
        $answer = $this->call(['action' => 'validate', 'data' => ['peer' => '{"name": "spb"}']]);
        self::assertTrue($answer['result']);
        self::assertArrayNotHasKey('error', $answer['messages']);
        self::assertCount(1, $answer['messages']['warning']);
    }

    public function testValidatePassesThePeerOnStdinNeverInArgv(): void
    {
        $this->answer('{"ok": true, "problems": []}');
        $peer = ['name' => 'spb', 'host' => '127.0.0.2; rm -rf /', 'secret' => "it's \$(reboot) `x`", 'note' => "a\nb"];
        $this->call(['action' => 'validate', 'data' => ['peer' => $peer]]);
        self::assertSame([$this->pbxfed('peers', 'validate', '--json')], $this->runner->runs);
        self::assertSame([json_encode($peer, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)], $this->runner->stdins);
        self::assertStringNotContainsString('reboot', implode(' ', $this->runner->runs[0]));
    }

    public function testValidateSettingsPassesThemOnStdinAndRefusesOnErrors(): void
    {
        $this->answer('{"ok": false, "problems": [{"code": "E_PATTERN_INVALID", "severity": "error", '
            . '"field": "own_patterns", "message": {"ru": "Шаблон номеров «2X!» не разобран", "en": "cannot be parsed"}}]}');
        $settings = ['station_name' => 'moscow', 'own_patterns' => "2X!'; reboot"];
        $answer = $this->call(['action' => 'validate-settings', 'data' => ['settings' => $settings]]);
        self::assertFalse($answer['result']);
        self::assertSame(['own_patterns: Шаблон номеров «2X!» не разобран'], $answer['messages']['error']);
        self::assertSame([$this->pbxfed('settings', 'validate', '--json')], $this->runner->runs);
        self::assertSame([json_encode($settings, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)], $this->runner->stdins);
    }

    public function testValidateWithoutPeerDataIsRefused(): void
    {
        $answer = $this->call(['action' => 'validate', 'data' => []]);
        self::assertFalse($answer['result']);
        self::assertSame(['Не переданы данные станции для проверки.'], $answer['messages']['error']);
        self::assertSame([], $this->runner->runs);
    }

    public function testStatusIsReadFromTheFileTheWorkerPublishesWithoutStartingAProcess(): void
    {
        $status = ['format' => 1, 'running' => true, 'pid' => 4242,
            'peers' => [['name' => 'spb', 'trunk' => 'reachable', 'rtt_ms' => 12]]];
        @mkdir($this->moduleDir . '/db/state', 0755, true);
        file_put_contents($this->moduleDir . '/db/state/status.json', json_encode($status));
        $this->runner->alive[4242] = 'python3 -m python_worker run';
        $answer = $this->call(['action' => 'status']);
        self::assertSame(['result' => true, 'data' => $status, 'messages' => []], $answer);
        self::assertSame([], $this->runner->runs);
        self::assertSame([], $this->runner->spawns);
    }

    public function testStatusOfAStoppedOrDeadWorkerSaysItIsNotRunning(): void
    {
        @mkdir($this->moduleDir . '/db/state', 0755, true);
        $file = $this->moduleDir . '/db/state/status.json';
        foreach ([null, '{"running": false, "reason": "stopped"}', '{"running": true, "pid": 4343}', 'garbage'] as $text) {
            if ($text === null) {
                @unlink($file);
            } else {
                file_put_contents($file, $text);
            }
            $answer = $this->call(['action' => 'status']);
            self::assertFalse($answer['result']);
            self::assertStringStartsWith('Фоновый процесс модуля не работает', $answer['messages']['error'][0], (string)$text);
        }
    }

    public function testCheckPassesTheNameAsOneArgument(): void
    {
        $this->answer('{"ok": true, "rtt_ms": 3}');
        $answer = $this->call(['action' => 'check', 'data' => ['name' => 'spb --json; id']]);
        self::assertTrue($answer['result']);
        self::assertSame($this->pbxfed('check-peer', 'spb --json; id', '--json'), $this->runner->runs[0]);
    }

    public function testPreviewIsADryRunApply(): void
    {
        $this->answer('{"ok": true, "create": [], "update": [{"op": "update", "table": "m_Sip"}], "delete": []}');
        $answer = $this->call(['action' => 'preview']);
        self::assertTrue($answer['result']);
        self::assertSame('m_Sip', $answer['data']['update'][0]['table']);
        // on a box the dry run renders the hints as the running worker does (bin/pbxfed: python_worker/box.py)
        self::assertSame($this->pbxfed('apply', '--dry-run', '--json'), $this->runner->runs[0]);
    }

    public function testApplyStartsAStoppedWorkerAndReconcilesARunningOne(): void
    {
        $running = false;
        $this->runner->responder = static function (array $argv) use (&$running): CommandResult {
            return new CommandResult(($argv[1] === 'running' && !$running) ? 1 : 0, '', '');
        };
        $answer = $this->call(['action' => 'apply']);
        self::assertTrue($answer['result']);
        self::assertSame(['running', 'start'], $this->runner->commands());

        $running = true;
        $this->runner->runs = [];
        $answer = $this->call(['action' => 'apply']);
        self::assertTrue($answer['result']);
        self::assertSame(['running', 'reconcile'], $this->runner->commands());
    }

    public function testGarbageFromTheWorkerIsAnErrorNotACrash(): void
    {
        $this->runner->responder = static function (): CommandResult {
            return new CommandResult(2, 'Traceback', 'ImportError: zmq');
        };
        $answer = $this->call(['action' => 'check', 'data' => ['name' => 'spb']]);
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
