<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Runs commands through /bin/sh with every argument passed through escapeshellarg.
 */
final class ShellCommandRunner implements CommandRunner
{
    /** @var string */
    private $procRoot;

    public function __construct(string $procRoot = '/proc')
    {
        $this->procRoot = $procRoot;
    }

    /**
     * The only place a command line is assembled.
     *
     * @param string[] $argv
     */
    public static function commandLine(array $argv): string
    {
        return implode(' ', array_map(static function ($arg): string {
            return escapeshellarg((string)$arg);
        }, $argv));
    }

    public function run(array $argv, int $timeoutSeconds, ?string $stdin = null): CommandResult
    {
        $in = $stdin === null ? ['file', '/dev/null', 'r'] : ['pipe', 'r'];
        $spec = [0 => $in, 1 => ['pipe', 'w'], 2 => ['pipe', 'w']];
        // "exec" makes the shell replace itself, so a timeout kills the real process.
        $process = proc_open('exec ' . self::commandLine($argv), $spec, $pipes);
        if (!is_resource($process)) {
            return new CommandResult(127, '', 'cannot start ' . ($argv[0] ?? ''));
        }
        $pending = (string)$stdin;
        if ($stdin !== null) {
            stream_set_blocking($pipes[0], false);
        }
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        $stdout = '';
        $stderr = '';
        $deadline = microtime(true) + max(1, $timeoutSeconds);
        $timedOut = false;
        while (true) {
            if ($stdin !== null && isset($pipes[0]) && $pending === '') {
                fclose($pipes[0]);  // end of input: the program reads EOF
                unset($pipes[0]);
            }
            $read = [$pipes[1], $pipes[2]];
            $write = isset($pipes[0]) ? [$pipes[0]] : null;
            $except = null;
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                $timedOut = true;
                break;
            }
            $ready = @stream_select($read, $write, $except, 0, (int)min(200000, $left * 1000000));
            if ($ready === false) {
                break;
            }
            if (!empty($write) && isset($pipes[0])) {
                $written = @fwrite($pipes[0], $pending);
                if ($written === false) {
                    $pending = '';  // the program closed its stdin
                } else {
                    $pending = (string)substr($pending, $written);
                }
            }
            $stdout .= (string)stream_get_contents($pipes[1]);
            $stderr .= (string)stream_get_contents($pipes[2]);
            if (feof($pipes[1]) && feof($pipes[2])) {
                break;
            }
        }
        if ($timedOut) {
            proc_terminate($process, 9);
        }
        if (isset($pipes[0])) {
            fclose($pipes[0]);
        }
        fclose($pipes[1]);
        fclose($pipes[2]);
        $exitCode = proc_close($process);
        if ($timedOut) {
            $exitCode = 124;
        }
        return new CommandResult((int)$exitCode, $stdout, $stderr, $timedOut);
    }

    public function spawn(array $argv, string $logFile): int
    {
        // umask 077: the log it appends to may quote what an admin typed; only its owner reads it
        $line = 'umask 077; nohup ' . self::commandLine($argv)
            . ' </dev/null >>' . escapeshellarg($logFile) . ' 2>&1 & echo $!';
        $output = [];
        $code = 0;
        exec($line, $output, $code);
        $pid = (int)trim((string)($output[0] ?? '0'));
        return ($code === 0 && $pid > 0) ? $pid : 0;
    }

    public function isAlive(int $pid, string $needle): bool
    {
        if ($pid <= 0) {
            return false;
        }
        $cmdline = @file_get_contents($this->procRoot . '/' . $pid . '/cmdline');
        if ($cmdline === false || $cmdline === '') {
            return false;
        }
        return strpos(str_replace("\0", ' ', $cmdline), $needle) !== false;
    }

    public function signal(int $pid, int $signal): bool
    {
        if ($pid <= 0) {
            return false;
        }
        if (function_exists('posix_kill')) {
            return posix_kill($pid, $signal);
        }
        return $this->run(['kill', '-' . $signal, (string)$pid], 5)->isOk();
    }
}
