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
        TempDir::fakeInstall($this->moduleDir);
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

    private function pbxfed(string ...$words): array
    {
        return array_merge([$this->moduleDir . '/bin/pbxfed'], $words);
    }

    public function testEnableAndBootAskBinPbxfedToStartTheWorker(): void
    {
        // Core calls the hook twice, each time on a new ConfigClass object; `pbxfed start` does nothing when the
        // worker runs (tests/php/unit/PbxfedScriptTest.php runs the real script).
        $this->conf()->onAfterModuleEnable();
        $this->conf()->onAfterModuleEnable();
        $this->conf()->onAfterPbxStarted();
        self::assertSame([$this->pbxfed('start'), $this->pbxfed('start'), $this->pbxfed('start')], $this->runner->runs);
        self::assertSame([], $this->runner->spawns);
    }

    public function testDisableTwiceStopsRemovesRecordsAndReloads(): void
    {
        $this->conf()->onAfterModuleDisable();
        $this->conf()->onAfterModuleDisable();
        self::assertSame(['stop', 'disable', 'stop', 'disable'], $this->runner->commands());
        self::assertSame([$this->pbxfed('disable'), $this->pbxfed('disable')], $this->runner->runsOf('disable'));
        $actions = 'MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\';
        self::assertSame(
            [$actions . 'ReloadPJSIPAction', $actions . 'ReloadDialplanAction', $actions . 'ReloadFirewallAction'],
            array_slice(WorkerModelsEvents::$invoked, 0, 3)
        );
        self::assertCount(6, WorkerModelsEvents::$invoked);
        self::assertSame([], $this->runner->spawns, 'disable never starts anything');
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
        self::assertSame([$this->pbxfed('reconcile'), $this->pbxfed('reconcile')], array_column($this->runner->spawns, 0));
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
                'rules' => [['portfrom' => 7787, 'portto' => 7787, 'protocol' => 'tcp', 'name' => 'PbxFederationSyncPort']],  // contract.json
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
            ['No python3 was found on this station (PATH, /usr/bin, /usr/local/bin, /bin). The module runs its worker '
                . 'on the station\'s own python3 and carries what the worker needs for CPython 3.11 (x86_64).'],
            $conf->getMessages()
        );
    }
}
