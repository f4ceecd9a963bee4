<?php

namespace PbxFederationTests;

use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\ShellCommandRunner;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use PHPUnit\Framework\TestCase;

/**
 * bin/pbxfed and bin/safe.sh run for real with a fake python3 (PBXFED_PYTHON): the worker starts once, a dead one
 * is started again, stop stops it, every other word reaches `python3 -I python/boot.py -m python_worker` with the
 * box's module dir. The real launcher on a real minimal python3 runs in tests/box.
 */
final class PbxfedScriptTest extends TestCase
{
    /** @var string */
    private $root;
    /** @var string */
    private $moduleDir;
    /** @var int[] */
    private $started = [];
    /** @var string */
    private $python;

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        mkdir($this->moduleDir . '/bin');
        foreach (['safe.sh', 'pbxfed'] as $script) {
            copy(dirname(__DIR__, 3) . '/bin/' . $script, $this->moduleDir . '/bin/' . $script);
            chmod($this->moduleDir . '/bin/' . $script, 0755);
        }
        mkdir($this->moduleDir . '/python');
        copy(dirname(__DIR__, 3) . '/python/boot.py', $this->moduleDir . '/python/boot.py');
        // The fake python3 records its argv (NUL-separated) and environment, then lives as "python_worker" for
        // `run`; any other command answers at once.
        $this->python = $this->root . '/python3';
        file_put_contents($this->python, "#!/bin/sh\n"
            . 'd=' . escapeshellarg($this->moduleDir) . "\n"
            . 'printf "%s\0" "$@" > "$d/argv"; echo "$PBXFED_MODULE_DIR" > "$d/env"' . "\n"
            . '[ "$5" = run ] && exec python3 -c "import time; time.sleep(60)" python_worker' . "\n"
            . 'echo "{\"ok\": true}"' . "\n");
        chmod($this->python, 0755);
        putenv('PBXFED_PYTHON=' . $this->python);
        $this->setModuleState('0');
    }

    /** Core's m_PbxExtensionModules row of the module, in a mikopbx.db of the test's own (safe.sh reads it). */
    private function setModuleState(?string $disabled): void
    {
        $db = new \PDO('sqlite:' . $this->root . '/mikopbx.db');
        $db->exec('CREATE TABLE IF NOT EXISTS m_PbxExtensionModules (id INTEGER PRIMARY KEY, uniqid TEXT, disabled TEXT)');
        $db->exec('DELETE FROM m_PbxExtensionModules');
        if ($disabled !== null) {
            $db->exec("INSERT INTO m_PbxExtensionModules (uniqid, disabled) VALUES ('ModulePbxFederation', '$disabled')");
        }
    }

    protected function tearDown(): void
    {
        putenv('PBXFED_PYTHON');
        $runner = new ShellCommandRunner();
        foreach ($this->started as $pid) {
            $runner->signal($pid, 9);
        }
        TempDir::remove($this->root);
    }

    private function safe(string $arg = ''): int
    {
        $cmd = 'PBXFED_MIKOPBX_DB=' . escapeshellarg($this->root . '/mikopbx.db') . ' '
            . escapeshellarg($this->moduleDir . '/bin/safe.sh') . ($arg !== '' ? ' ' . escapeshellarg($arg) : '');
        exec($cmd . ' >/dev/null 2>&1', $out, $code);
        $pid = (int)@file_get_contents($this->moduleDir . '/db/state/worker.pid');
        if ($pid > 0 && !in_array($pid, $this->started, true)) {
            $this->started[] = $pid;
        }
        return $code;
    }

    private function waitFor(callable $condition): bool
    {
        $deadline = microtime(true) + 5;
        while (!$condition()) {
            if (microtime(true) > $deadline) {
                return false;
            }
            usleep(50000);
        }
        return true;
    }

    public function testStartsOnceRestartsWhenDeadAndStops(): void
    {
        $runner = new ShellCommandRunner();
        $client = new WorkerClient(new WorkerPaths($this->moduleDir), $runner, new ModuleLog(static function (): void {
        }));
        self::assertSame(1, $this->safe('status'));
        self::assertFalse($client->isRunning());

        self::assertSame(0, $this->safe());
        $argvFile = $this->moduleDir . '/argv';
        self::assertTrue($this->waitFor(static function () use ($argvFile): bool {
            return is_file($argvFile) && filesize($argvFile) > 0;
        }));
        $first = (int)file_get_contents($this->moduleDir . '/db/state/worker.pid');
        self::assertTrue($this->waitFor(static function () use ($client): bool {
            return $client->isRunning();
        }), 'PHP sees the worker safe.sh started');
        // the worker's whole command line is its own: bin/pbxfed says only `run` and where the module is
        $boot = $this->moduleDir . '/python/boot.py';
        self::assertSame(['-I', $boot, '-m', 'python_worker', 'run'],
            explode("\0", rtrim((string)file_get_contents($argvFile), "\0")));
        self::assertSame($this->moduleDir, trim((string)file_get_contents($this->moduleDir . '/env')));

        self::assertTrue($client->start(), 'a second start is a no-op');
        self::assertSame(0, $this->safe());
        self::assertSame(0, $this->safe('status'));
        self::assertSame($first, (int)file_get_contents($this->moduleDir . '/db/state/worker.pid'), 'not started twice');

        $runner->signal($first, 9);
        self::assertTrue($this->waitFor(static function () use ($client): bool {
            return !$client->isRunning();
        }));
        self::assertSame(0, $this->safe());
        $second = (int)file_get_contents($this->moduleDir . '/db/state/worker.pid');
        self::assertNotSame($first, $second);
        self::assertTrue($this->waitFor(static function () use ($client): bool {
            return $client->isRunning();
        }));
        $this->started[] = $second;

        $client->stop();
        self::assertFalse($client->isRunning());
        self::assertFileDoesNotExist($this->moduleDir . '/db/state/worker.pid');
    }

    public function testOtherCommandsReachTheWorkerWithTheirWords(): void
    {
        $client = new WorkerClient(new WorkerPaths($this->moduleDir), new ShellCommandRunner(),
            new ModuleLog(static function (): void {
            }));
        self::assertSame(['ok' => true], $client->checkPeer("spb'; rm -rf /"));
        self::assertSame(['-I', $this->moduleDir . '/python/boot.py', '-m', 'python_worker', 'check-peer',
            "spb'; rm -rf /", '--json'],
            explode("\0", rtrim((string)file_get_contents($this->moduleDir . '/argv'), "\0")));
    }

    public function testSafeScriptNeverStartsTheWorkerOfADisabledOrUnregisteredModule(): void
    {
        foreach (['1', null] as $state) {
            $this->setModuleState($state);
            self::assertSame(0, $this->safe());
            self::assertFileDoesNotExist($this->moduleDir . '/db/state/worker.pid');
            self::assertFileDoesNotExist($this->moduleDir . '/argv', 'the worker was never run');
        }
    }

    public function testRefusesWithoutPython3(): void
    {
        unlink($this->python);
        self::assertSame(127, $this->safe());
        self::assertFileDoesNotExist($this->moduleDir . '/db/state/worker.pid');
    }

    public function testProbeAndDoctorGoToTheLauncher(): void
    {
        foreach ([['probe'], ['doctor']] as $words) {
            exec('sh ' . escapeshellarg($this->moduleDir . '/bin/pbxfed') . ' ' . $words[0] . ' 2>&1', $out, $code);
            self::assertSame(0, $code);
        }
        self::assertSame(['-I', $this->moduleDir . '/python/boot.py', '-m', 'python_worker', 'doctor'],
            explode("\0", rtrim((string)file_get_contents($this->moduleDir . '/argv'), "\0")));
    }
}
