<?php

namespace PbxFederationTests;

use MikoPBX\Modules\Setup\PbxExtensionSetupBase;
use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PythonEnvironment;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PHPUnit\Framework\TestCase;

/** Install refuses clearly without a fitting python3 and builds the venv offline from wheels. */
final class SetupTest extends TestCase
{
    /** @var string */
    private $root;
    /** @var string */
    private $moduleDir;
    /** @var string */
    private $python;
    /** @var FakeRunner */
    private $runner;
    /** @var string */
    private $version = '3.11.7';

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        PbxExtensionSetupBase::$testModulesDir = $this->root;
        PbxExtensionSetupBase::$testPbxCompatible = true;
        PbxExtensionSetupBase::$calls = [];
        // The runner is fake; the candidate only has to exist and be executable.
        $this->python = $this->root . '/python3';
        file_put_contents($this->python, "#!/bin/sh\nexit 0\n");
        chmod($this->python, 0755);
        mkdir($this->moduleDir . '/wheels');
        foreach (['pip-24.3.1-py3-none-any.whl', 'pbxfed_worker-0.1.0-py3-none-any.whl', 'Jinja2-3.1.4-py3-none-any.whl'] as $wheel) {
            touch($this->moduleDir . '/wheels/' . $wheel);
        }
        $this->runner = new FakeRunner(function (array $argv): CommandResult {
            if (($argv[1] ?? '') === '-c' && strpos($argv[2], 'sys.version_info') !== false) {
                return new CommandResult(0, $this->version . "\n", '');
            }
            if (($argv[2] ?? '') === 'venv') {
                TempDir::fakeVenv(dirname($argv[4]));
            }
            return new CommandResult(0, '', '');
        });
    }

    protected function tearDown(): void
    {
        TempDir::remove($this->root);
    }

    private function installer(array $candidates): PbxExtensionSetup
    {
        $paths = new WorkerPaths($this->moduleDir);
        $setup = new PbxExtensionSetup('ModulePbxFederation');
        $setup->useCollaborators(
            new PythonEnvironment($paths, $this->runner, $candidates),
            new WorkerClient($paths, $this->runner, new ModuleLog(static function (): void {
            })),
            new Texts(null, 'ru')
        );
        return $setup;
    }

    public function testMissingPythonRefusesWithAMessage(): void
    {
        $setup = $this->installer([$this->root . '/no-such-python3']);
        self::assertFalse($setup->installModule());
        self::assertSame(
            ['Не найден python3. Модулю нужен python3 версии 3.10.0 или новее: установите его и повторите.'],
            $setup->getMessages()
        );
        self::assertSame(['core:checkCompatibility'], PbxExtensionSetupBase::$calls, 'no files touched');
        self::assertDirectoryDoesNotExist($this->moduleDir . '/venv');
    }

    public function testTooOldPythonRefusesNamingTheVersion(): void
    {
        $this->version = '3.9.18';
        $setup = $this->installer([$this->python]);
        self::assertFalse($setup->installModule());
        self::assertSame(
            ["python3 {$this->python} имеет версию 3.9.18, а модулю нужна 3.10.0 или новее."],
            $setup->getMessages()
        );
    }

    public function testOlderPbxIsRefusedByCoreBeforePythonIsLookedAt(): void
    {
        PbxExtensionSetupBase::$testPbxCompatible = false;
        $setup = $this->installer([$this->python]);
        self::assertFalse($setup->installModule());
        self::assertSame(['ext_ModuleDependsHigherVersion'], $setup->getMessages());
        self::assertSame([], $this->runner->runs);
    }

    public function testMissingWheelsRefuse(): void
    {
        foreach (glob($this->moduleDir . '/wheels/*') as $wheel) {
            unlink($wheel);
        }
        $setup = $this->installer([$this->python]);
        self::assertFalse($setup->installModule());
        self::assertStringContainsString($this->moduleDir . '/wheels', $setup->getMessages()[0]);
    }

    public function testInstallBuildsTheVenvOfflineFromTheShippedWheels(): void
    {
        $setup = $this->installer([$this->python]);
        self::assertTrue($setup->installModule(), implode("\n", $setup->getMessages()));
        $d = $this->moduleDir;
        self::assertContains([$this->python, '-m', 'venv', '--without-pip', "$d/venv"], $this->runner->runs);
        self::assertContains([
            "$d/venv/bin/python", "$d/wheels/pip-24.3.1-py3-none-any.whl/pip", 'install',
            '--no-index', '--find-links', "$d/wheels",
            '--disable-pip-version-check', '--no-cache-dir', '--no-warn-script-location', 'pbxfed-worker',
        ], $this->runner->runs);
        self::assertFileExists("$d/venv/.pbxfed-installed");
        self::assertDirectoryExists("$d/db/state");
        self::assertSame(['core:checkCompatibility', 'core:installFiles'], PbxExtensionSetupBase::$calls);

        // A second install (or enable) with the same wheels reuses the venv.
        $runsBefore = count($this->runner->runs);
        self::assertTrue($this->installer([$this->python])->installModule());
        $venvRuns = array_filter(array_slice($this->runner->runs, $runsBefore), static function (array $argv): bool {
            return ($argv[2] ?? '') === 'venv';
        });
        self::assertSame([], $venvRuns);
    }

    public function testFailedPipInstallRefusesAndLeavesNoHalfVenv(): void
    {
        $inner = $this->runner->responder;
        $this->runner->responder = static function (array $argv) use ($inner): CommandResult {
            if (($argv[2] ?? '') === 'install') {
                return new CommandResult(1, '', 'ERROR: No matching distribution found for pyzmq==26.2.0');
            }
            return $inner($argv);
        };
        $setup = $this->installer([$this->python]);
        self::assertFalse($setup->installModule());
        self::assertStringContainsString('No matching distribution found for pyzmq', $setup->getMessages()[0]);
        self::assertDirectoryDoesNotExist($this->moduleDir . '/venv');
    }
}
