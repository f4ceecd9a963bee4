<?php

namespace PbxFederationTests;

use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\ShellCommandRunner;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use PHPUnit\Framework\TestCase;

/** bin/safe.sh, run for real with a fake venv python: starts once, restarts a dead worker, same argv as PHP. */
final class SafeScriptTest extends TestCase
{
    /** @var string */
    private $root;
    /** @var string */
    private $moduleDir;
    /** @var int[] */
    private $started = [];

    protected function setUp(): void
    {
        $this->root = TempDir::make();
        $this->moduleDir = $this->root . '/ModulePbxFederation';
        mkdir($this->moduleDir . '/bin');
        copy(dirname(__DIR__, 3) . '/bin/safe.sh', $this->moduleDir . '/bin/safe.sh');
        chmod($this->moduleDir . '/bin/safe.sh', 0755);
        mkdir($this->moduleDir . '/venv/bin', 0755, true);
        // The fake worker records its argv (NUL-separated) and then lives as "python_worker".
        file_put_contents($this->moduleDir . '/venv/bin/python', "#!/bin/sh\n"
            . 'printf "%s\0" "$@" > "$(dirname "$0")/../../argv"' . "\n"
            . 'exec python3 -c "import time; time.sleep(60)" python_worker' . "\n");
        chmod($this->moduleDir . '/venv/bin/python', 0755);
    }

    protected function tearDown(): void
    {
        $runner = new ShellCommandRunner();
        foreach ($this->started as $pid) {
            $runner->signal($pid, 9);
        }
        TempDir::remove($this->root);
    }

    private function safe(string $arg = ''): int
    {
        $cmd = escapeshellarg($this->moduleDir . '/bin/safe.sh') . ($arg !== '' ? ' ' . escapeshellarg($arg) : '');
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

    public function testStartsOnceRestartsWhenDeadAndMatchesThePhpCommand(): void
    {
        $runner = new ShellCommandRunner();
        $client = new WorkerClient(new WorkerPaths($this->moduleDir), $runner, new ModuleLog(static function (): void {
        }));
        self::assertSame(1, $this->safe('status'));

        self::assertSame(0, $this->safe());
        $argvFile = $this->moduleDir . '/argv';
        self::assertTrue($this->waitFor(static function () use ($argvFile): bool {
            return is_file($argvFile) && filesize($argvFile) > 0;
        }));
        $first = (int)file_get_contents($this->moduleDir . '/db/state/worker.pid');
        self::assertTrue($this->waitFor(static function () use ($client): bool {
            return $client->isRunning();
        }), 'PHP sees the worker safe.sh started');

        // The same argv as WorkerClient::runArgs(), minus the interpreter path itself.
        $argv = explode("\0", rtrim((string)file_get_contents($argvFile), "\0"));
        self::assertSame(array_slice($client->runArgs(), 1), $argv);

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

        $client->stop(3);
        self::assertFalse($client->isRunning());
        self::assertFileDoesNotExist($this->moduleDir . '/db/state/worker.pid');
    }

    public function testRefusesWithoutVenv(): void
    {
        unlink($this->moduleDir . '/venv/bin/python');
        self::assertSame(1, $this->safe());
        self::assertFileDoesNotExist($this->moduleDir . '/db/state/worker.pid');
    }
}
