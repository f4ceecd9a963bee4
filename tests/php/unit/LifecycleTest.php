<?php

namespace PbxFederationTests;

use MikoPBX\Modules\Config\ConfigClass;
use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\CoreReloader;
use Modules\ModulePbxFederation\Lib\ModuleLifecycle;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;
use PHPUnit\Framework\TestCase;

/** Boot, a failing worker at removal, upgrade recognition, model events and cron (the rest: tests/realcore). */
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
            new CoreReloader($log),
            new Texts()
        );
        return $conf;
    }

    private function pbxfed(string ...$words): array
    {
        return array_merge([$this->moduleDir . '/bin/pbxfed'], $words);
    }

    public function testBootAsksBinPbxfedToStartTheWorker(): void
    {
        // `pbxfed start` does nothing when the worker runs (tests/php/unit/PbxfedScriptTest.php runs the real script).
        $this->conf()->onAfterPbxStarted();
        $this->conf()->onAfterPbxStarted();
        self::assertSame([$this->pbxfed('start'), $this->pbxfed('start')], $this->runner->runs);
        self::assertSame([], $this->runner->spawns);
    }

    public function testAWorkerThatCannotRemoveTheRowsLeavesItToPhpAndSaysWhy(): void
    {
        // Enable, disable, upgrade and uninstall run on real Core in tests/realcore/tests/LifecycleTest.php; a worker
        // that fails is simulated here.
        $this->runner->responder = static function (array $argv): CommandResult {
            return new CommandResult(($argv[1] ?? '') === 'disable' ? 1 : 0, '', 'database is locked');
        };
        $paths = new WorkerPaths($this->moduleDir);
        $log = new ModuleLog(function (string $message): void {
            $this->logged[] = $message;
        });
        $fallbacks = 0;
        $life = new ModuleLifecycle($paths, new WorkerClient($paths, $this->runner, $log), $log,
            static function () use (&$fallbacks): bool {
                $fallbacks++;
                return true;
            });
        self::assertTrue($life->removeOwnedRecords());
        self::assertSame(1, $fallbacks);
        self::assertStringContainsString('database is locked', implode("\n", $this->logged));
    }

    public function testUpgradeIsRecognisedByCoresInstallerOnTheStackOrAFreshMarker(): void
    {
        $paths = new WorkerPaths($this->moduleDir);
        $log = new ModuleLog(static function (): void {
        });
        $life = new ModuleLifecycle($paths, new WorkerClient($paths, $this->runner, $log), $log);
        $installer = ['function' => 'startModuleInstallation', 'class' => ModuleLifecycle::INSTALLER];
        self::assertTrue(ModuleLifecycle::calledByCoresInstaller([['function' => 'x'], $installer]));
        self::assertFalse(ModuleLifecycle::calledByCoresInstaller([['function' => 'startModuleInstallation',
            'class' => 'Somebody\\Else']]));
        self::assertFalse($life->isUpgrading([]));
        $life->markUpgrade('disable');
        self::assertTrue($life->isUpgrading([]));
        file_put_contents($life->markerFile(), json_encode(['since' => time() - ModuleLifecycle::UPGRADE_TTL - 1]));
        self::assertFalse($life->isUpgrading([]), 'a stale marker is not an upgrade');
        self::assertTrue($life->finishUpgrade());
        self::assertFalse($life->finishUpgrade());
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
}
