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

/**
 * Install asks bin/pbxfed: `probe` in checkCompatibility (cheap, before any file step), `doctor` in installFiles;
 * every refusal is a precise translated message; nothing is built (no venv, no pip). The real script and the real
 * box python are exercised in tests/box (the emulated station) and tests/php/test_build_zip.py.
 */
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
    /** @var array{0: int, 1: string} what `probe` answers */
    private $probe;
    /** @var array{0: int, 1: string} what `doctor` answers */
    private $doctor;

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        PbxExtensionSetupBase::$testModulesDir = $this->root;
        PbxExtensionSetupBase::$testPbxCompatible = true;
        PbxExtensionSetupBase::$calls = [];
        TempDir::fakeInstall($this->moduleDir);
        mkdir($this->moduleDir . '/python/cp311-aarch64');
        // The runner is fake; the candidate only has to exist and be executable.
        $this->python = $this->root . '/python3';
        file_put_contents($this->python, "#!/bin/sh\nexit 0\n");
        chmod($this->python, 0755);
        $this->probe = [0, $this->probeText('cp311-x86_64', '')];
        $this->doctor = [0, (string)json_encode(['ok' => true, 'checks' => [['name' => 'imports', 'ok' => true]]])];
        $this->runner = new FakeRunner(function (array $argv): CommandResult {
            $word = end($argv);
            if ($word === 'probe') {
                return new CommandResult($this->probe[0], $this->probe[1], '');
            }
            if ($word === 'doctor') {
                return new CommandResult($this->doctor[0], $this->doctor[1], '');
            }
            return new CommandResult(0, '', '');
        });
    }

    protected function tearDown(): void
    {
        TempDir::remove($this->root);
    }

    private function probeText(string $runtime, string $missing, string $version = '3.11.2'): string
    {
        return "implementation=cpython\nversion=$version\nabi=cp311\nmachine=x86_64\nexecutable={$this->python}\n"
            . "runtime=$runtime\nshipped=cp311-aarch64,cp311-x86_64\nmissing=$missing\n";
    }

    private function installer(array $candidates, string $lang = 'ru'): PbxExtensionSetup
    {
        $paths = new WorkerPaths($this->moduleDir);
        $setup = new PbxExtensionSetup('ModulePbxFederation');
        $setup->useCollaborators(
            new PythonEnvironment($paths, $this->runner, $candidates),
            new WorkerClient($paths, $this->runner, new ModuleLog(static function (): void {
            })),
            new Texts(null, $lang)
        );
        return $setup;
    }

    /** @return string[] the bin/pbxfed words run, in order */
    private function words(): array
    {
        return array_map(static function (array $argv): string {
            return (string)end($argv);
        }, $this->runner->runs);
    }

    public function testInstallProbesThenRunsTheDoctorAndBuildsNothing(): void
    {
        $setup = $this->installer([$this->python]);
        self::assertTrue($setup->installModule(), implode("\n", $setup->getMessages()));
        $entry = $this->moduleDir . '/bin/pbxfed';
        // bin/pbxfed is still 644 here (Core's rights step comes last), so it runs through /bin/sh.
        self::assertSame([
            ['/usr/bin/env', "PBXFED_PYTHON={$this->python}", '/bin/sh', $entry, 'probe'],
            ['/usr/bin/env', "PBXFED_PYTHON={$this->python}", '/bin/sh', $entry, 'probe'],
            ['/usr/bin/env', "PBXFED_PYTHON={$this->python}", '/bin/sh', $entry, 'doctor'],
        ], $this->runner->runs);
        self::assertSame(['core:checkCompatibility', 'core:installFiles'], PbxExtensionSetupBase::$calls);
        self::assertDirectoryExists($this->moduleDir . '/db/state');
        self::assertDirectoryDoesNotExist($this->moduleDir . '/venv');
    }

    public function testWithoutCandidatesBinPbxfedLooksForPython3Itself(): void
    {
        self::assertTrue($this->installer([])->installModule());
        self::assertSame(['/bin/sh', $this->moduleDir . '/bin/pbxfed', 'probe'], $this->runner->runs[0]);
    }

    public function testMissingPythonRefusesBeforeAnyFileStep(): void
    {
        $setup = $this->installer([$this->root . '/no-such-python3']);
        self::assertFalse($setup->installModule());
        self::assertSame(['На станции не найден python3 (PATH, /usr/bin, /usr/local/bin, /bin). Модуль запускает свой '
            . 'фоновый процесс на python3 самой станции и содержит всё, что ему нужно, для CPython 3.11 (aarch64, x86_64).'],
            $setup->getMessages());
        self::assertSame(['core:checkCompatibility'], PbxExtensionSetupBase::$calls, 'no files touched');
        self::assertSame([], $this->runner->runs);
    }

    public function testBinPbxfedFindingNoPython3IsTheSameRefusal(): void
    {
        $this->probe = [127, ''];
        $setup = $this->installer([], 'en');
        self::assertFalse($setup->installModule());
        self::assertStringStartsWith('No python3 was found on this station', $setup->getMessages()[0]);
        self::assertSame(['probe'], $this->words());
    }

    public function testAnUnsupportedVersionOrCpuIsNamedWithWhatTheModuleCarries(): void
    {
        $this->probe = [5, "implementation=cpython\nversion=3.12.1\nabi=cp312\nmachine=armv7l\n"
            . "executable=/usr/bin/python3\nruntime=\nshipped=cp311-aarch64,cp311-x86_64\nmissing=\n"];
        $setup = $this->installer([], 'en');
        self::assertFalse($setup->installModule());
        self::assertSame(['python3 /usr/bin/python3 is CPython 3.12.1 on armv7l; this module carries what its worker '
            . 'needs for CPython 3.11 (aarch64, x86_64) only, so it cannot run here.'], $setup->getMessages());
        self::assertSame(['core:checkCompatibility'], PbxExtensionSetupBase::$calls);
    }

    public function testMissingCModulesAreNamed(): void
    {
        $this->probe = [6, $this->probeText('cp311-x86_64', '_sqlite3,_ctypes')];
        $setup = $this->installer([$this->python]);
        self::assertFalse($setup->installModule());
        self::assertSame(["В python3 {$this->python} (3.11.2) нет _sqlite3, _ctypes из стандартной библиотеки, а "
            . 'модуль их с собой не привозит. Фоновый процесс модуля не сможет работать на этой станции.'],
            $setup->getMessages());
    }

    public function testADoctorFailureRefusesTheInstallNamingTheCheck(): void
    {
        $this->doctor = [1, (string)json_encode(['ok' => false, 'missing' => [], 'checks' => [
            ['name' => 'imports', 'ok' => true, 'detail' => '60 modules'],
            ['name' => 'inotify', 'ok' => false, 'detail' => 'RuntimeError: no inotify event within 5 s'],
        ]])];
        $setup = $this->installer([$this->python], 'en');
        self::assertFalse($setup->installModule());
        self::assertSame(["The module's worker does not run on this station's python3 {$this->python} (3.11.2): "
            . 'inotify: RuntimeError: no inotify event within 5 s'], $setup->getMessages());
        self::assertSame(['core:checkCompatibility', 'core:installFiles'], PbxExtensionSetupBase::$calls);
    }

    public function testAModuleTheDoctorFoundMissingIsNamed(): void
    {
        $this->doctor = [1, (string)json_encode(['ok' => false, 'missing' => ['_lzma'], 'checks' => [
            ['name' => 'imports', 'ok' => false, 'detail' => 'python_worker.x: No module named _lzma'],
        ]])];
        $setup = $this->installer([$this->python], 'en');
        self::assertFalse($setup->installModule());
        self::assertStringContainsString('lacks _lzma of its standard library', $setup->getMessages()[0]);
    }

    public function testADoctorWithoutAnswerSaysSo(): void
    {
        $this->doctor = [1, 'Traceback (most recent call last): boom'];
        $setup = $this->installer([$this->python], 'en');
        self::assertFalse($setup->installModule());
        self::assertStringContainsString('Traceback (most recent call last): boom', $setup->getMessages()[0]);
    }

    public function testATruncatedArchiveIsNamed(): void
    {
        TempDir::remove($this->moduleDir . '/python');
        $setup = $this->installer([$this->python], 'en');
        self::assertFalse($setup->installModule());
        self::assertSame(['The module archive is incomplete: the worker\'s runtime (' . $this->moduleDir
            . '/python) is missing. Download the full module archive and install it again.'], $setup->getMessages());
        self::assertSame([], $this->runner->runs);
    }

    public function testOlderPbxIsRefusedByCoreBeforePythonIsLookedAt(): void
    {
        PbxExtensionSetupBase::$testPbxCompatible = false;
        $setup = $this->installer([$this->python]);
        self::assertFalse($setup->installModule());
        self::assertSame(['ext_ModuleDependsHigherVersion'], $setup->getMessages());
        self::assertSame([], $this->runner->runs);
    }
}
