<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Builds every `python -m python_worker ...` command line and runs it through the injected runner;
 * also owns the worker's lifecycle (pid file, start, stop).
 */
class WorkerClient
{
    /** What the worker runs to make Core reload pjsip, dialplan and firewall (Lib/ReloadCore.php). */
    public const RELOAD_CMD = 'php-core';

    /**
     * How the worker reads Asterisk (no shell; run by the worker with shlex): trunk reachability from qualify,
     * remote lamps that start publishing to us, and the Custom device that turns a dead peer's lamps Unavailable.
     */
    public const ASTERISK = '/usr/sbin/asterisk';
    public const STATUS_CMD = self::ASTERISK . " -rx 'pjsip show contacts'";
    public const HINTS_CMD = self::ASTERISK . " -rx 'core show hints'";
    public const DEVSTATE_CMD = self::ASTERISK . " -rx 'devstate change {device} {state}'";

    /** Worker command lines contain this; used to recognise our process behind a pid. */
    public const PROCESS_MARK = 'python_worker';

    /** Core serves module REST calls with a 10 s budget; stay under it. */
    public const QUICK_TIMEOUT = 8;

    public const DISABLE_TIMEOUT = 60;

    /** @var WorkerPaths */
    private $paths;

    /** @var CommandRunner */
    private $runner;

    /** @var ModuleLog */
    private $log;

    public function __construct(WorkerPaths $paths, CommandRunner $runner, ModuleLog $log)
    {
        $this->paths = $paths;
        $this->runner = $runner;
        $this->log = $log;
    }

    public function paths(): WorkerPaths
    {
        return $this->paths;
    }

    /** @return string[] */
    private function python(): array
    {
        return [$this->paths->venvPython(), '-m', 'python_worker'];
    }

    /** @return string[] */
    private function locations(): array
    {
        return [
            '--mikopbx-db', $this->paths->mikopbxDb(),
            '--module-db', $this->paths->moduleDb(),
            '--state-dir', $this->paths->stateDir(),
        ];
    }

    /** @return string[] */
    public function runArgs(): array
    {
        return array_merge($this->python(), ['run'], $this->locations(), ['--reload-cmd', self::RELOAD_CMD],
            ['--sync-bind', '0.0.0.0', '--sync-port', (string)PbxFederationConf::SYNC_PORT],
            ['--status-cmd', self::STATUS_CMD, '--hints-cmd', self::HINTS_CMD, '--devstate-cmd', self::DEVSTATE_CMD]);
    }

    /**
     * A new one-time invitation for another station (JSON: invitation, file, expires). `$from`: the invited
     * station's IP, let through the firewall to the sync port while the invitation is pending.
     *
     * @return string[]
     */
    public function inviteArgs(string $address, int $ttlSeconds, string $from = ''): array
    {
        $args = array_merge($this->python(), ['invite', 'create'], $this->locations(),
            ['--sync-port', (string)PbxFederationConf::SYNC_PORT, '--ttl', (string)$ttlSeconds, '--json']);
        if ($address !== '') {
            $args = array_merge($args, ['--address', $address]);
        }
        if ($from !== '') {
            $args = array_merge($args, ['--from', $from]);
        }
        return $args;
    }

    /** @return string[] pairs with the station that made `$invitation` (JSON: ok, peer or problems) */
    public function acceptArgs(string $invitation, string $address): array
    {
        $args = array_merge($this->python(), ['invite', 'accept', $invitation], $this->locations(),
            ['--sync-port', (string)PbxFederationConf::SYNC_PORT, '--timeout', '6', '--json']);
        if ($address !== '') {
            $args = array_merge($args, ['--address', $address]);
        }
        return $args;
    }

    /** @return array<string, mixed> */
    public function invite(string $address, int $ttlSeconds, string $from = ''): array
    {
        return $this->runJson($this->inviteArgs($address, $ttlSeconds, $from), self::QUICK_TIMEOUT);
    }

    /** @return array<string, mixed> */
    public function accept(string $invitation, string $address): array
    {
        return $this->runJson($this->acceptArgs($invitation, $address), self::QUICK_TIMEOUT);
    }

    /** @return string[] */
    public function reconcileArgs(): array
    {
        return array_merge($this->python(), ['reconcile', '--state-dir', $this->paths->stateDir()]);
    }

    /** @return string[] */
    public function statusArgs(): array
    {
        return array_merge($this->python(), ['status', '--state-dir', $this->paths->stateDir(), '--json']);
    }

    /**
     * @param array<string, mixed> $peer the peer form's values
     * @return string[]
     */
    public function validateArgs(array $peer): array
    {
        return $this->validationArgs('peers', $peer);
    }

    /**
     * @param array<string, mixed> $settings the settings form's values
     * @return string[]
     */
    public function validateSettingsArgs(array $settings): array
    {
        return $this->validationArgs('settings', $settings);
    }

    /**
     * `<group> validate … --json '<values as one JSON argument>'`: the worker checks what a form proposes.
     *
     * @param array<string, mixed> $values
     * @return string[]
     */
    private function validationArgs(string $group, array $values): array
    {
        return array_merge($this->python(), [
            $group, 'validate',
            '--module-db', $this->paths->moduleDb(),
            '--mikopbx-db', $this->paths->mikopbxDb(),
            '--json', (string)json_encode($values, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES),
        ]);
    }

    /** @return string[] */
    public function checkPeerArgs(string $name): array
    {
        return array_merge($this->python(), ['check-peer', $name, '--json']);
    }

    /** @return string[] */
    public function previewArgs(): array
    {
        // --devstate-cmd: render the hints as the running worker does (a dry run runs no command)
        return array_merge($this->python(), ['apply', '--dry-run', '--json'], $this->locations(),
            ['--devstate-cmd', self::DEVSTATE_CMD]);
    }

    /** @return string[] */
    public function disableArgs(): array
    {
        return array_merge($this->python(), ['disable'], $this->locations());
    }

    /** @return array<string, mixed> */
    public function status(): array
    {
        return $this->runJson($this->statusArgs(), self::QUICK_TIMEOUT);
    }

    /**
     * @param array<string, mixed> $peer
     * @return array<string, mixed> {"ok": bool, "problems": [...]} from the worker
     */
    public function validatePeer(array $peer): array
    {
        return $this->runJson($this->validateArgs($peer), self::QUICK_TIMEOUT);
    }

    /**
     * @param array<string, mixed> $settings
     * @return array<string, mixed> {"ok": bool, "problems": [...]} from the worker
     */
    public function validateSettings(array $settings): array
    {
        return $this->runJson($this->validateSettingsArgs($settings), self::QUICK_TIMEOUT);
    }

    /** @return array<string, mixed> */
    public function checkPeer(string $name): array
    {
        return $this->runJson($this->checkPeerArgs($name), self::QUICK_TIMEOUT);
    }

    /** @return array<string, mixed> */
    public function preview(): array
    {
        return $this->runJson($this->previewArgs(), self::QUICK_TIMEOUT);
    }

    /** Asks the running worker to reconcile now and waits for its answer. */
    public function reconcileNow(): CommandResult
    {
        return $this->runner->run($this->reconcileArgs(), self::QUICK_TIMEOUT);
    }

    /** Asks the worker to reconcile without waiting (model change events must return at once). */
    public function signalReconcile(): bool
    {
        if (!$this->hasVenv()) {
            $this->log->warning('reconcile not signalled: ' . $this->paths->venvPython() . ' is missing');
            return false;
        }
        $this->ensureStateDir();
        return $this->runner->spawn($this->reconcileArgs(), $this->paths->logFile()) > 0;
    }

    /** Removes every record the module wrote into mikopbx.db. */
    public function removeOwnedRecords(): CommandResult
    {
        return $this->runner->run($this->disableArgs(), self::DISABLE_TIMEOUT);
    }

    public function hasVenv(): bool
    {
        return is_file($this->paths->venvPython());
    }

    public function runningPid(): int
    {
        $pid = (int)trim((string)@file_get_contents($this->paths->pidFile()));
        return $this->runner->isAlive($pid, self::PROCESS_MARK) ? $pid : 0;
    }

    public function isRunning(): bool
    {
        return $this->runningPid() > 0;
    }

    /** Starts the worker unless it already runs; safe to call any number of times. */
    public function start(): bool
    {
        if ($this->isRunning()) {
            return true;
        }
        if (!$this->hasVenv()) {
            $this->log->error('worker not started: ' . $this->paths->venvPython() . ' is missing');
            return false;
        }
        $this->ensureStateDir();
        $pid = $this->runner->spawn($this->runArgs(), $this->paths->logFile());
        if ($pid <= 0) {
            $this->log->error('worker did not start, see ' . $this->paths->logFile());
            return false;
        }
        file_put_contents($this->paths->pidFile(), $pid . "\n");
        $this->log->info("worker started, pid $pid");
        return true;
    }

    /** Stops the worker if it runs; safe to call any number of times. */
    public function stop(int $graceSeconds = 5): void
    {
        $pid = $this->runningPid();
        if ($pid > 0) {
            $this->runner->signal($pid, 15);
            $deadline = microtime(true) + $graceSeconds;
            while ($this->runner->isAlive($pid, self::PROCESS_MARK) && microtime(true) < $deadline) {
                usleep(100000);
            }
            if ($this->runner->isAlive($pid, self::PROCESS_MARK)) {
                $this->runner->signal($pid, 9);
            }
            $this->log->info("worker stopped, pid $pid");
        }
        if (is_file($this->paths->pidFile())) {
            @unlink($this->paths->pidFile());
        }
    }

    private function ensureStateDir(): void
    {
        $dir = $this->paths->stateDir();
        if (!is_dir($dir)) {
            @mkdir($dir, 0755, true);
        }
    }

    /**
     * Runs a command that prints one JSON object; faults come back as {"error": "..."}.
     *
     * @param string[] $argv
     * @return array<string, mixed>
     */
    private function runJson(array $argv, int $timeout): array
    {
        if (!$this->hasVenv()) {
            return ['error' => 'venv_missing'];
        }
        $result = $this->runner->run($argv, $timeout);
        if ($result->timedOut) {
            $this->log->error("{$argv[3]}: no answer within {$timeout}s");
            return ['error' => 'timeout'];
        }
        $decoded = json_decode(trim($result->stdout), true);
        if (!is_array($decoded)) {
            $this->log->error("{$argv[3]}: exit {$result->exitCode}, no JSON; stderr: " . substr($result->stderr, -500));
            return ['error' => 'bad_output', 'exitCode' => $result->exitCode, 'stderr' => substr($result->stderr, -500)];
        }
        return $decoded;
    }
}
