<?php

namespace PbxFederationTests;

use Modules\ModulePbxFederation\Lib\ShellCommandRunner;
use PHPUnit\Framework\TestCase;

/** The real runner: arguments reach the program unchanged, timeouts kill, spawn detaches. */
final class ShellRunnerTest extends TestCase
{
    public function testHostileArgumentsArriveVerbatim(): void
    {
        $args = ["it's", '$(touch /tmp/pbxfed-pwned)', '`id`', 'a; rm -rf /', "two\nlines", '', '--json', '{"a":"b c"}'];
        $result = (new ShellCommandRunner())->run(array_merge(['printf', '%s\0'], $args), 5);
        self::assertTrue($result->isOk(), $result->stderr);
        self::assertSame(implode("\0", $args) . "\0", $result->stdout);
        self::assertFileDoesNotExist('/tmp/pbxfed-pwned');
    }

    public function testStdinReachesTheProgramAndNeverItsArguments(): void
    {
        $secret = "s3cret 'x' \$(id)\n" . str_repeat('A', 100000);  // larger than a pipe's buffer
        $result = (new ShellCommandRunner())->run(['sh', '-c', 'wc -c; echo "$@"', 'sh', 'visible'], 5, $secret);
        self::assertTrue($result->isOk(), $result->stderr);
        self::assertSame([(string)strlen($secret), 'visible'], array_map('trim', explode("\n", trim($result->stdout))));
    }

    public function testWithoutStdinTheProgramReadsEndOfFile(): void
    {
        $result = (new ShellCommandRunner())->run(['sh', '-c', 'wc -c'], 5);
        self::assertSame('0', trim($result->stdout));
    }

    public function testCommandLineQuotesEveryArgument(): void
    {
        self::assertSame("'python' 'a b' ''\\''x'\\'''", ShellCommandRunner::commandLine(['python', 'a b', "'x'"]));
    }

    public function testTimeoutKillsTheCommand(): void
    {
        $start = microtime(true);
        $result = (new ShellCommandRunner())->run(['sleep', '20'], 1);
        self::assertTrue($result->timedOut);
        self::assertFalse($result->isOk());
        self::assertLessThan(5, microtime(true) - $start);
    }

    public function testExitCodeAndStderrAreKept(): void
    {
        $result = (new ShellCommandRunner())->run(['sh', '-c', 'echo oops >&2; exit 3'], 5);
        self::assertSame(3, $result->exitCode);
        self::assertSame("oops\n", $result->stderr);
    }

    public function testSpawnReturnsTheLivePidAndSignalStopsIt(): void
    {
        $log = tempnam(sys_get_temp_dir(), 'pbxfed-log');
        $runner = new ShellCommandRunner();
        $pid = $runner->spawn(['sleep', '30'], $log);
        try {
            self::assertGreaterThan(0, $pid);
            self::assertTrue($runner->isAlive($pid, 'sleep'));
            self::assertFalse($runner->isAlive($pid, 'python_worker'));
        } finally {
            $runner->signal($pid, 15);
        }
        $deadline = microtime(true) + 5;
        while ($runner->isAlive($pid, 'sleep') && microtime(true) < $deadline) {
            usleep(50000);
        }
        self::assertFalse($runner->isAlive($pid, 'sleep'));
        unlink($log);
    }
}
