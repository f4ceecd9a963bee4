<?php

namespace PbxFederationTests;

use MikoPBX\Core\Workers\WorkerModelsEvents;
use MikoPBX\Modules\Config\ConfigClass;
use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\CoreReloader;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Lib\PythonEnvironment;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;
use PHPUnit\Framework\TestCase;

/** Enable, disable, boot, model events, cron and firewall hooks. */
final class LifecycleTest extends TestCase
{
    /** @var string */
    private $root;
    /** @var string */
    private $moduleDir;
    /** @var FakeRunner */
    private $runner;
    /** @var string[] */
    private $logged = [];

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        ConfigClass::$testModulesDir = $this->root;
        TempDir::fakeVenv($this->moduleDir);
        $this->runner = new FakeRunner();
        WorkerModelsEvents::$invoked = [];
    }

    protected function tearDown(): void
    {
        TempDir::remove($this->root);
    }

    private function conf(): PbxFederationConf
    {
        $log = new ModuleLog(function (string $message): void {
            $this->logged[] = $message;
        });
        $paths = new WorkerPaths($this->moduleDir);
        $conf = new PbxFederationConf();
        $conf->useCollaborators(
            new WorkerClient($paths, $this->runner, $log),
            $log,
            new PythonEnvironment($paths, $this->runner, ['/nonexistent/python3']),
            new CoreReloader($log),
            new Texts()
        );
        return $conf;
    }

    private function expectedRunArgs(): array
    {
        $d = $this->moduleDir;
        return [
            "$d/venv/bin/python", '-m', 'python_worker', 'run',
            '--mikopbx-db', '/cf/conf/mikopbx.db',
            '--module-db', "$d/db/module.db",
            '--state-dir', "$d/db/state",
            '--reload-cmd', 'php-core',
            '--sync-bind', '0.0.0.0', '--sync-port', '7787',
            '--status-cmd', "/usr/sbin/asterisk -rx 'pjsip show contacts'",
            '--hints-cmd', "/usr/sbin/asterisk -rx 'core show hints'",
            '--devstate-cmd', "/usr/sbin/asterisk -rx 'devstate change {device} {state}'",
        ];
    }

    public function testEnableTwiceStartsOneWorker(): void
    {
        // Core calls the hook twice, each time on a new ConfigClass object.
        $this->conf()->onAfterModuleEnable();
        $this->conf()->onAfterModuleEnable();
        self::assertCount(1, $this->runner->spawns);
        [$argv, $logFile] = $this->runner->spawns[0];
        self::assertSame($this->expectedRunArgs(), $argv);
        self::assertSame($this->moduleDir . '/db/state/worker.log', $logFile);
        self::assertSame("4000\n", file_get_contents($this->moduleDir . '/db/state/worker.pid'));
    }

    public function testAfterPbxStartedStartsTheWorkerOnce(): void
    {
        $this->conf()->onAfterPbxStarted();
        $this->conf()->onAfterModuleEnable();
        self::assertCount(1, $this->runner->spawns);
    }

    public function testDeadWorkerBehindAStalePidFileIsStartedAgain(): void
    {
        file_put_contents($this->moduleDir . '/db/state/worker.pid', "31337\n");
        $this->conf()->onAfterModuleEnable();
        self::assertCount(1, $this->runner->spawns);
    }

    public function testDisableTwiceStopsRemovesRecordsAndReloads(): void
    {
        $this->conf()->onAfterModuleEnable();
        $this->conf()->onAfterModuleDisable();
        $this->conf()->onAfterModuleDisable();

        self::assertSame([[4000, 15]], $this->runner->signals, 'the worker is signalled once');
        self::assertFileDoesNotExist($this->moduleDir . '/db/state/worker.pid');
        $d = $this->moduleDir;
        $disable = [
            "$d/venv/bin/python", '-m', 'python_worker', 'disable',
            '--mikopbx-db', '/cf/conf/mikopbx.db', '--module-db', "$d/db/module.db", '--state-dir', "$d/db/state",
        ];
        self::assertSame([$disable, $disable], $this->runner->runsOf('disable'));
        $actions = 'MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\';
        self::assertSame(
            [$actions . 'ReloadPJSIPAction', $actions . 'ReloadDialplanAction', $actions . 'ReloadFirewallAction'],
            array_slice(WorkerModelsEvents::$invoked, 0, 3)
        );
        self::assertCount(6, WorkerModelsEvents::$invoked);
        self::assertCount(1, $this->runner->spawns, 'disable never starts anything');
    }

    public function testFailedDisableIsLogged(): void
    {
        $this->runner->responder = static function (array $argv): CommandResult {
            return new CommandResult(1, '', 'database is locked');
        };
        $this->conf()->onAfterModuleDisable();
        self::assertStringContainsString('database is locked', implode("\n", $this->logged));
    }

    public function testOwnModelChangeSignalsReconcileWithoutWaiting(): void
    {
        $conf = $this->conf();
        $conf->modelsEventChangeData(['model' => ModulePbxFederationPeers::class, 'recordId' => '1']);
        $conf->modelsEventChangeData(['model' => ModulePbxFederation::class, 'recordId' => '1']);
        $conf->modelsEventChangeData(['model' => 'MikoPBX\\Common\\Models\\Sip', 'recordId' => '7']);
        $conf->modelsEventChangeData('garbage');
        self::assertSame([], $this->runner->runs, 'nothing waited for');
        $reconcile = [$this->moduleDir . '/venv/bin/python', '-m', 'python_worker', 'reconcile',
            '--state-dir', $this->moduleDir . '/db/state'];
        self::assertSame([$reconcile, $reconcile], array_column($this->runner->spawns, 0));
    }

    public function testCronRunsTheSafeScriptEveryMinute(): void
    {
        $tasks = ['existing line'];
        $this->conf()->createCronTasks($tasks);
        self::assertSame(
            ['existing line', "*/1 * * * * '" . $this->moduleDir . "/bin/safe.sh' > /dev/null 2> /dev/null\n"],
            $tasks
        );
    }

    public function testFirewallRuleDeclaresTheSyncPortClosedByDefault(): void
    {
        self::assertSame(
            ['ModulePbxFederation' => [
                'rules' => [['portfrom' => 7787, 'portto' => 7787, 'protocol' => 'tcp', 'name' => 'PbxFederationSyncPort']],
                'action' => 'block',
                'shortName' => 'PBX federation',
            ]],
            $this->conf()->getDefaultFirewallRules()
        );
    }

    public function testEnableIsRefusedWithTranslatedMessagesWhenPythonIsMissing(): void
    {
        $conf = $this->conf();
        self::assertFalse($conf->onBeforeModuleEnable());
        self::assertSame(
            ['python3 was not found. The module needs python3 3.10.0 or newer: install it and try again.'],
            $conf->getMessages()
        );
    }
}
