<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Talks to the worker through bin/pbxfed (the one entry point; the worker's options and defaults are its own)
 * and reads the status the worker publishes. No command line is spelled here beyond the command's words.
 */
class WorkerClient
{
    /** Core gives a module's REST call 30 s (both tags); stay well under it. */
    public const QUICK_TIMEOUT = 20;

    public const DISABLE_TIMEOUT = 60;

    /** The worker's command lines contain this (its process is recognised by it). */
    public const PROCESS_MARK = 'python_worker';

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

    /**
     * @param string[] $words the worker command and its arguments
     * @return string[]
     */
    public function argv(array $words): array
    {
        return array_merge([$this->paths->entryPoint()], $words);
    }

    /** @return string[] */
    public function inviteArgs(string $address, int $ttlSeconds, string $from = ''): array
    {
        $words = ['invite', 'create', '--ttl', (string)$ttlSeconds, '--json'];
        if ($address !== '') {
            $words = array_merge($words, ['--address', $address]);
        }
        if ($from !== '') {
            $words = array_merge($words, ['--from', $from]);
        }
        return $this->argv($words);
    }

    /**
     * Pairs with the station that made the invitation (JSON: ok, peer or problems). The invitation holds a
     * one-time secret: it goes on stdin, never in argv (visible to every user in ps).
     *
     * @return string[]
     */
    public function acceptArgs(string $address): array
    {
        $words = ['invite', 'accept', '--timeout', '6', '--json'];
        if ($address !== '') {
            $words = array_merge($words, ['--address', $address]);
        }
        return $this->argv($words);
    }

    /**
     * `<group> validate --json` with the form's values as JSON on stdin (they may hold the trunk secret, which
     * must never be in argv): the worker checks what a form proposes.
     *
     * @return string[]
     */
    public function validationArgs(string $group): array
    {
        return $this->argv([$group, 'validate', '--json']);
    }

    /** @param array<string, mixed> $values */
    public static function formJson(array $values): string
    {
        return (string)json_encode($values, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES
            | JSON_INVALID_UTF8_SUBSTITUTE);
    }

    /** @return array<string, mixed> */
    public function invite(string $address, int $ttlSeconds, string $from = ''): array
    {
        return $this->runJson($this->inviteArgs($address, $ttlSeconds, $from));
    }

    /** @return array<string, mixed> */
    public function accept(string $invitation, string $address): array
    {
        return $this->runJson($this->acceptArgs($address), $invitation);
    }

    /**
     * The worker's status document (docs/status.md), read from the file it publishes: no process is started.
     * A worker that is not running answers {"error": "not_running"}.
     *
     * @return array<string, mixed>
     */
    public function status(): array
    {
        $decoded = json_decode((string)@file_get_contents($this->paths->statusFile()), true);
        if (!is_array($decoded) || ($decoded['running'] ?? false) !== true
            || !$this->runner->isAlive((int)($decoded['pid'] ?? 0), self::PROCESS_MARK)) {
            return ['error' => 'not_running'];
        }
        return $decoded;
    }

    /**
     * @param array<string, mixed> $peer
     * @return array<string, mixed> {"ok": bool, "problems": [...]} from the worker
     */
    public function validatePeer(array $peer): array
    {
        return $this->runJson($this->validationArgs('peers'), self::formJson($peer));
    }

    /**
     * @param array<string, mixed> $settings
     * @return array<string, mixed> {"ok": bool, "problems": [...]} from the worker
     */
    public function validateSettings(array $settings): array
    {
        return $this->runJson($this->validationArgs('settings'), self::formJson($settings));
    }

    /**
     * This station's SIP providers and which may carry fallback or transit calls (`providers --json`): a list of
     * {uniqid, description, host, registration_type, disabled, federation, fallback, transit}, or {"error": ...}.
     *
     * @return array<int|string, mixed>
     */
    public function providers(): array
    {
        return $this->runJson($this->argv(['providers', '--json']));
    }

    /** @return array<string, mixed> */
    public function checkPeer(string $name): array
    {
        return $this->runJson($this->argv(['check-peer', $name, '--json']));
    }

    /** @return array<string, mixed> what an apply would create, change and remove */
    public function preview(): array
    {
        return $this->runJson($this->argv(['apply', '--dry-run', '--json']));
    }

    /** Asks the running worker to reconcile now and waits for its answer. */
    public function reconcileNow(): CommandResult
    {
        return $this->runner->run($this->argv(['reconcile']), self::QUICK_TIMEOUT);
    }

    /** Asks the worker to reconcile without waiting (model change events must return at once). */
    public function signalReconcile(): bool
    {
        if (!$this->isInstalled()) {
            $this->log->warning('reconcile not signalled: the worker is not installed');
            return false;
        }
        return $this->runner->spawn($this->argv(['reconcile']), $this->paths->logFile()) > 0;
    }

    /** Removes every record the module wrote into mikopbx.db. */
    public function removeOwnedRecords(): CommandResult
    {
        return $this->runner->run($this->argv(['disable']), self::DISABLE_TIMEOUT);
    }

    /** The worker's runtime is in place (bin/pbxfed and the launcher of the runtime it runs the worker with). */
    public function isInstalled(): bool
    {
        return is_file($this->paths->entryPoint()) && is_file($this->paths->bootScript());
    }

    public function isRunning(): bool
    {
        return $this->runner->run($this->argv(['running']), 10)->isOk();
    }

    /** Starts the worker unless it already runs; safe to call any number of times. */
    public function start(): bool
    {
        if (!$this->isInstalled()) {
            $this->log->error('worker not started: the worker is not installed (' . $this->paths->bootScript() . ')');
            return false;
        }
        $result = $this->runner->run($this->argv(['start']), 15);
        if (!$result->isOk()) {
            $this->log->error('worker did not start: ' . substr(trim($result->stderr), -300));
        }
        return $result->isOk();
    }

    /** Stops the worker if it runs; safe to call any number of times. */
    public function stop(): void
    {
        if (is_file($this->paths->entryPoint())) {
            $this->runner->run($this->argv(['stop']), 15);
        }
    }

    /**
     * Runs a command that prints one JSON object; faults come back as {"error": "..."}.
     *
     * @param string[] $argv
     * @param string|null $stdin what the command reads (secrets and invitations travel here, never in argv)
     * @return array<string, mixed>
     */
    private function runJson(array $argv, ?string $stdin = null): array
    {
        if (!$this->isInstalled()) {
            return ['error' => 'not_installed'];
        }
        $result = $this->runner->run($argv, self::QUICK_TIMEOUT, $stdin);
        $what = $argv[1] ?? '';
        if ($result->timedOut) {
            $this->log->error("$what: no answer within " . self::QUICK_TIMEOUT . 's');
            return ['error' => 'timeout'];
        }
        $decoded = json_decode(trim($result->stdout), true);
        if (!is_array($decoded)) {
            $this->log->error("$what: exit {$result->exitCode}, no JSON; stderr: " . substr($result->stderr, -500));
            return ['error' => 'bad_output', 'exitCode' => $result->exitCode, 'stderr' => substr($result->stderr, -500)];
        }
        return $decoded;
    }
}
