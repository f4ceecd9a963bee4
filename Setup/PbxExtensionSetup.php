<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Setup;

use MikoPBX\Modules\Setup\PbxExtensionSetupBase;
use Modules\ModulePbxFederation\Lib\ModuleLifecycle;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\PythonEnvironment;
use Modules\ModulePbxFederation\Lib\ShellCommandRunner;
use Modules\ModulePbxFederation\Lib\Texts;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;

/**
 * Installer: Core's steps plus the checks of the station's own python3 (Lib/PythonEnvironment.php). Nothing is
 * built: the zip carries the worker's runtime (python/). Core's installer process runs installModule() outside
 * any transaction, after unzipping; the cheap probe refuses early with a precise message, the doctor proves the
 * worker's imports and C pieces before the module is registered. Uninstall keeps db/ (settings and worker state)
 * when asked, as Core does.
 */
class PbxExtensionSetup extends PbxExtensionSetupBase
{
    /** @var PythonEnvironment|null */
    private $python;

    /** @var WorkerClient|null */
    private $worker;

    /** @var Texts|null */
    private $texts;

    /** Lets tests hand in fakes instead of the real edges. */
    public function useCollaborators(PythonEnvironment $python, WorkerClient $worker, Texts $texts): void
    {
        $this->python = $python;
        $this->worker = $worker;
        $this->texts = $texts;
    }

    private function paths(): WorkerPaths
    {
        return new WorkerPaths($this->moduleDir);
    }

    private function python(): PythonEnvironment
    {
        if ($this->python === null) {
            $this->python = new PythonEnvironment($this->paths(), new ShellCommandRunner());
        }
        return $this->python;
    }

    private function worker(): WorkerClient
    {
        if ($this->worker === null) {
            $this->worker = new WorkerClient($this->paths(), new ShellCommandRunner(), new ModuleLog());
        }
        return $this->worker;
    }

    private function texts(): Texts
    {
        if ($this->texts === null) {
            $this->texts = Texts::fromDi();
        }
        return $this->texts;
    }

    private function reportPythonProblems(): void
    {
        foreach ($this->python()->problems() as [$key, $params]) {
            $this->messages[] = $this->texts()->get($key, $params);
        }
    }

    /** Core's version check, then the probe of python3 (version, CPU, C modules); no side effects. */
    public function checkCompatibility(): bool
    {
        if (!parent::checkCompatibility()) {
            return false;
        }
        if (!$this->python()->check()) {
            $this->reportPythonProblems();
            return false;
        }
        return true;
    }

    /**
     * Core's file steps, then the worker's state dir and the first `bin/pbxfed doctor`: the worker's real import
     * graph, SQLite, zmq, inotify, ctypes and mikopbx.db read-only on this python3 (it also writes the worker's
     * bytecode cache, so the first start is not slower than the others).
     */
    public function installFiles(): bool
    {
        if (!parent::installFiles()) {
            return false;
        }
        $stateDir = $this->paths()->stateDir();
        if (!is_dir($stateDir)) {
            @mkdir($stateDir, 0755, true);
        }
        if (!$this->python()->doctor()) {
            $this->reportPythonProblems();
            return false;
        }
        return true;
    }

    /**
     * Core's uninstall runs this, then unInstallFiles(), synchronously and before the files go (both tags; on 2024.1
     * it is the only module code that runs on a delete, onAfterModuleDisable() comes later or never). A real
     * uninstall, with or without keeping the settings, removes every row the module owns; an upgrade (Core's
     * installer on the call stack, or its marker) keeps them with the worker stopped (Lib/ModuleLifecycle.php).
     */
    public function unInstallDB(bool $keepSettings = false): bool
    {
        $paths = $this->paths();
        $life = new ModuleLifecycle($paths, $this->worker(), new ModuleLog());
        $this->worker()->stop();
        if ($keepSettings && $life->isUpgrading()) {
            $life->markUpgrade('uninstall');
        } else {
            $life->removeOwnedRecords();
            $life->finishUpgrade();
        }
        return parent::unInstallDB($keepSettings);
    }

    /** The worker must not outlive its files; Core's own step then keeps or drops db/. */
    public function unInstallFiles(bool $keepSettings = false): bool
    {
        $this->worker()->stop();
        return parent::unInstallFiles($keepSettings);
    }
}
