<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Owns every on-disk location the PHP host and the Python worker share.
 */
final class WorkerPaths
{
    public const MIKOPBX_DB = '/cf/conf/mikopbx.db';

    /** @var string */
    private $moduleDir;

    /** @var string */
    private $mikopbxDb;

    public function __construct(string $moduleDir, string $mikopbxDb = self::MIKOPBX_DB)
    {
        $this->moduleDir = rtrim($moduleDir, '/');
        $this->mikopbxDb = $mikopbxDb;
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
        return $this->moduleDir . '/db/module.db';
    }

    /** Kept under db/ so that "keep settings" on uninstall keeps it too. */
    public function stateDir(): string
    {
        return $this->moduleDir . '/db/state';
    }

    public function hooksFile(): string
    {
        return $this->stateDir() . '/hooks.json';
    }

    public function pidFile(): string
    {
        return $this->stateDir() . '/worker.pid';
    }

    public function logFile(): string
    {
        return $this->stateDir() . '/worker.log';
    }

    public function venvDir(): string
    {
        return $this->moduleDir . '/venv';
    }

    public function venvPython(): string
    {
        return $this->venvDir() . '/bin/python';
    }

    public function wheelsDir(): string
    {
        return $this->moduleDir . '/wheels';
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
