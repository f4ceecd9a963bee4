<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * The one door to processes; tests hand in a fake that records argv lists.
 */
interface CommandRunner
{
    /**
     * Runs argv and waits for it, at most $timeoutSeconds.
     *
     * @param string[] $argv program and arguments, never a shell string (and never a secret: argv is visible
     *                       to every user in ps)
     * @param string|null $stdin what the program reads on its stdin (a form's JSON, an invitation); null gives
     *                           it /dev/null
     */
    public function run(array $argv, int $timeoutSeconds, ?string $stdin = null): CommandResult;

    /**
     * Starts argv detached from us, stdout and stderr appended to $logFile.
     *
     * @param string[] $argv program and arguments, never a shell string
     * @return int the new process id, 0 when it could not be started
     */
    public function spawn(array $argv, string $logFile): int;

    /** True when a process with this id exists and its command line contains $needle. */
    public function isAlive(int $pid, string $needle): bool;

    /** Sends a signal; true when it was delivered. */
    public function signal(int $pid, int $signal): bool;
}
