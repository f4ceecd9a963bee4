<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use Throwable;

/**
 * What the module does at each step Core drives (docs/platform.md#lifecycle; Core's facts in
 * tests/realcore/CORE-NOTES.md), in one place for the hook class and the installer:
 *  - a real disable or uninstall removes every row the module owns (the worker's `disable`; OwnedRecords when the
 *    worker cannot run), synchronously in unInstallDB() too, because on 2024.1 onAfterModuleDisable() runs later
 *    in WorkerModelsEvents and not at all once the module is gone;
 *  - an upgrade keeps them. Core upgrades a module as disable -> uninstall keeping settings -> install -> enable
 *    (ModuleInstallationBase::startModuleInstallation, both tags) and says so by nothing but its call stack: the
 *    disable and the uninstall are called from startModuleInstallation(). The module then stops its worker (so
 *    nothing removes the rows while it is disabled) and writes a marker into db/state, which Core's "keep
 *    settings" copies to Backup/ and the new version's install copies back; the enable after it removes the
 *    marker, starts the worker and has pjsip and the dialplan reloaded once. The trunks stay up throughout: the
 *    rows stay and Asterisk keeps the configuration it has. The marker is honoured for UPGRADE_TTL seconds.
 */
final class ModuleLifecycle
{
    public const INSTALLER = 'MikoPBX\\PBXCoreREST\\Lib\\Modules\\ModuleInstallationBase';
    public const INSTALL_STEP = 'startModuleInstallation';
    public const MARKER = 'upgrade.json';
    /** Core keeps its own record of an installation in progress for as long (2026.1 REDIS_MODULE_INSTALL_TTL). */
    public const UPGRADE_TTL = 1800;

    /** @var WorkerPaths */
    private $paths;

    /** @var WorkerClient */
    private $worker;

    /** @var ModuleLog */
    private $log;

    /** @var callable|null function (): bool, the PHP removal when the worker cannot run (tests replace it) */
    private $fallback;

    public function __construct(WorkerPaths $paths, WorkerClient $worker, ModuleLog $log, ?callable $fallback = null)
    {
        $this->paths = $paths;
        $this->worker = $worker;
        $this->log = $log;
        $this->fallback = $fallback;
    }

    /**
     * True while Core's module installation (an install or upgrade from a package or the marketplace) is on the
     * call stack.
     *
     * @param array<int, array<string, mixed>>|null $trace a debug_backtrace() (the current one when null)
     */
    public static function calledByCoresInstaller(?array $trace = null): bool
    {
        $trace = $trace ?? debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS);
        foreach ($trace as $frame) {
            $class = (string)($frame['class'] ?? '');
            if (($frame['function'] ?? '') === self::INSTALL_STEP && $class !== ''
                && ($class === self::INSTALLER || is_subclass_of($class, self::INSTALLER))) {
                return true;
            }
        }
        return false;
    }

    public function markerFile(): string
    {
        return $this->paths->stateDir() . '/' . self::MARKER;
    }

    /** An upgrade is under way: Core's installer is on the stack, or a marker younger than UPGRADE_TTL exists. */
    public function isUpgrading(?array $trace = null): bool
    {
        if (self::calledByCoresInstaller($trace ?? debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS))) {
            return true;
        }
        $marker = json_decode((string)@file_get_contents($this->markerFile()), true);
        $since = is_array($marker) ? (int)($marker['since'] ?? 0) : 0;
        return $since > 0 && time() - $since < self::UPGRADE_TTL;
    }

    /** Records that an upgrade started (kept by Core's "keep settings" with the rest of db/). */
    public function markUpgrade(string $step): void
    {
        $dir = $this->paths->stateDir();
        if (!is_dir($dir)) {
            @mkdir($dir, 0755, true);
        }
        $old = json_decode((string)@file_get_contents($this->markerFile()), true);
        $since = is_array($old) && (int)($old['since'] ?? 0) > time() - self::UPGRADE_TTL ? (int)$old['since'] : time();
        $body = ['since' => $since, 'step' => $step, 'version' => self::moduleVersion($this->paths->moduleDir())];
        if (@file_put_contents($this->markerFile() . '.tmp', json_encode($body) . "\n") !== false) {
            @rename($this->markerFile() . '.tmp', $this->markerFile());
        }
        $this->log->info("upgrade under way ($step): the worker is stopped, the federation's rows are kept");
    }

    /** Ends an upgrade: true when one was recorded (the marker is removed). */
    public function finishUpgrade(): bool
    {
        if (!is_file($this->markerFile())) {
            return false;
        }
        @unlink($this->markerFile());
        $this->log->info('upgrade finished: the worker starts again with the rows as they were');
        return true;
    }

    /** Removes every row the module owns in mikopbx.db and tells Core; the worker first, PHP when it cannot. */
    public function removeOwnedRecords(): bool
    {
        if ($this->worker->isInstalled()) {
            $result = $this->worker->removeOwnedRecords();
            if ($result->isOk()) {
                return true;
            }
            $this->log->error('the worker did not remove the owned records (exit ' . $result->exitCode . '): '
                . substr(trim($result->stderr), -500) . '; removing them from PHP');
        } else {
            $this->log->error('the worker is not installed: removing the owned records from PHP');
        }
        try {
            $fallback = $this->fallback ?? function (): bool {
                return (new OwnedRecords($this->paths, $this->log))->removeAll();
            };
            return (bool)$fallback();
        } catch (Throwable $e) {
            $this->log->error('owned records not removed: ' . get_class($e) . ': ' . $e->getMessage());
            return false;
        }
    }

    private static function moduleVersion(string $moduleDir): string
    {
        $json = json_decode((string)@file_get_contents($moduleDir . '/module.json'), true);
        return is_array($json) ? (string)($json['version'] ?? '') : '';
    }
}
