<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Owns every on-disk location the PHP host and the Python worker share. The shared values (state dir, file
 * names, sync port) are read from python_worker/contract.json, which the worker reads too.
 */
final class WorkerPaths
{
    public const MIKOPBX_DB = '/cf/conf/mikopbx.db';

    /** @var array<string, mixed>|null */
    private static $contract;

    /** @var string */
    private $moduleDir;

    /** @var string */
    private $mikopbxDb;

    public function __construct(string $moduleDir, string $mikopbxDb = self::MIKOPBX_DB)
    {
        $this->moduleDir = rtrim($moduleDir, '/');
        $this->mikopbxDb = $mikopbxDb;
    }

    /** @return array<string, mixed> python_worker/contract.json of the running code */
    public static function contract(): array
    {
        if (self::$contract === null) {
            $decoded = json_decode((string)@file_get_contents(dirname(__DIR__) . '/python_worker/contract.json'), true);
            self::$contract = is_array($decoded) ? $decoded : [];
        }
        return self::$contract;
    }

    /**
     * What the note of every fallback route the worker writes starts with ('' when the contract is unreadable):
     * Core's per-route hook generateOutRoutContext gets the worker's text only for those routes.
     */
    public static function fallbackRouteNotePrefix(): string
    {
        return (string)(self::contract()['fallback_route_note_prefix'] ?? '');
    }

    /** TCP port of directory sync (the firewall's default rule names it); 0 when the contract is unreadable. */
    public static function syncPort(): int
    {
        return (int)(self::contract()['sync_port'] ?? 0);
    }

    /** The module's own directory, wherever the running code lives. */
    public static function forThisModule(): self
    {
        return new self(dirname(__DIR__));
    }

    public function moduleDir(): string
    {
        return $this->moduleDir;
    }

    public function mikopbxDb(): string
    {
        return $this->mikopbxDb;
    }

    public function moduleDb(): string
    {
        return $this->moduleDir . '/' . (string)(self::contract()['module_db'] ?? 'db/module.db');
    }

    /** Kept under db/ so that "keep settings" on uninstall keeps it too. */
    public function stateDir(): string
    {
        return $this->moduleDir . '/' . (string)(self::contract()['state_dir'] ?? 'db/state');
    }

    public function hooksFile(): string
    {
        return $this->stateDir() . '/' . (string)(self::contract()['hooks_file'] ?? 'hooks.json');
    }

    /** The worker's status document (what the admin page shows; docs/status.md). */
    public function statusFile(): string
    {
        return $this->stateDir() . '/' . (string)(self::contract()['status_file'] ?? 'status.json');
    }

    /** bin/pbxfed: the one entry point that runs the worker (PHP, cron and support use it). */
    public function entryPoint(): string
    {
        return $this->moduleDir . '/bin/pbxfed';
    }

    public function pidFile(): string
    {
        return $this->stateDir() . '/worker.pid';
    }

    public function logFile(): string
    {
        return $this->stateDir() . '/worker.log';
    }

    /** python/: the worker's runtime for the box's own python3 (python/boot.py selects it; docs/module-package.md). */
    public function runtimeDir(): string
    {
        return $this->moduleDir . '/python';
    }

    public function bootScript(): string
    {
        return $this->runtimeDir() . '/boot.py';
    }

    public function safeScript(): string
    {
        return $this->moduleDir . '/bin/safe.sh';
    }

    public function reloadScript(): string
    {
        return $this->moduleDir . '/Lib/ReloadCore.php';
    }
}
