<?php

namespace PbxFederationTests;

use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\CommandRunner;

/**
 * Records every argv; answers run() through a responder; keeps a fake process table.
 */
final class FakeRunner implements CommandRunner
{
    /** @var array<int, string[]> */
    public $runs = [];

    /** @var array<int, string|null> what each run got on stdin, in the order of $runs */
    public $stdins = [];

    /** @var array<int, array{0: string[], 1: string}> */
    public $spawns = [];

    /** @var array<int, array{0: int, 1: int}> */
    public $signals = [];

    /** @var array<int, string> pid => command line */
    public $alive = [];

    /** @var callable|null function (array $argv): CommandResult */
    public $responder;

    /** @var int */
    private $nextPid = 4000;

    public function __construct(?callable $responder = null)
    {
        $this->responder = $responder;
    }

    public function run(array $argv, int $timeoutSeconds, ?string $stdin = null): CommandResult
    {
        $this->runs[] = $argv;
        $this->stdins[] = $stdin;
        if ($this->responder !== null) {
            return ($this->responder)($argv);
        }
        return new CommandResult(0, '', '');
    }

    public function spawn(array $argv, string $logFile): int
    {
        $this->spawns[] = [$argv, $logFile];
        $pid = $this->nextPid++;
        $this->alive[$pid] = implode(' ', $argv);
        return $pid;
    }

    public function isAlive(int $pid, string $needle): bool
    {
        return isset($this->alive[$pid]) && strpos($this->alive[$pid], $needle) !== false;
    }

    public function signal(int $pid, int $signal): bool
    {
        $this->signals[] = [$pid, $signal];
        unset($this->alive[$pid]);
        return true;
    }

    /** Only the argv lists of bin/pbxfed whose command is $sub. */
    public function runsOf(string $sub): array
    {
        return array_values(array_filter($this->runs, static function (array $argv) use ($sub): bool {
            return ($argv[1] ?? '') === $sub;
        }));
    }

    /** The bin/pbxfed commands run, in order (without the arguments). */
    public function commands(): array
    {
        return array_map(static function (array $argv): string {
            return (string)($argv[1] ?? '');
        }, $this->runs);
    }
}
