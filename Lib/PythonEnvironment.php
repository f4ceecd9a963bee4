<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Checks the station's python3 and builds the worker's virtualenv from the wheels shipped in the
 * module zip (stations have no network: pip runs with --no-index).
 * Problems are translation keys with parameters, so Setup and the enable hook can show them.
 */
class PythonEnvironment
{
    public const MIN_VERSION = '3.10.0';

    public const WORKER_DISTRIBUTION = 'pbxfed-worker';

    /** Imported once the venv is built, to prove the wheels really fit this python. */
    public const IMPORT_CHECK = 'import python_worker, sqlalchemy, jinja2, watchdog, zmq';

    public const MARKER = '.pbxfed-installed';

    /** @var WorkerPaths */
    private $paths;

    /** @var CommandRunner */
    private $runner;

    /** @var string[] */
    private $candidates;

    /** @var array<int, array{0: string, 1: array<string, string>}> */
    private $problems = [];

    /**
     * @param string[] $candidates python3 executables to try, in order
     */
    public function __construct(WorkerPaths $paths, CommandRunner $runner, array $candidates = [])
    {
        $this->paths = $paths;
        $this->runner = $runner;
        $this->candidates = $candidates !== [] ? $candidates : self::defaultCandidates();
    }

    /** @return string[] */
    public static function defaultCandidates(): array
    {
        $found = [];
        foreach (explode(':', (string)getenv('PATH')) as $dir) {
            if ($dir !== '') {
                $found[] = rtrim($dir, '/') . '/python3';
            }
        }
        foreach (['/usr/bin/python3', '/usr/local/bin/python3', '/bin/python3', '/opt/python3/bin/python3'] as $path) {
            $found[] = $path;
        }
        return array_values(array_unique($found));
    }

    /**
     * What went wrong, as [translation key, params] pairs.
     *
     * @return array<int, array{0: string, 1: array<string, string>}>
     */
    public function problems(): array
    {
        return $this->problems;
    }

    private function fail(string $key, array $params = []): bool
    {
        $this->problems[] = ['module_pbx_federation_' . $key, $params];
        return false;
    }

    /** First python3 that exists and answers with its version, with that version; null if none. */
    public function findPython(): ?array
    {
        foreach ($this->candidates as $candidate) {
            if (!is_file($candidate) || !is_executable($candidate)) {
                continue;
            }
            $result = $this->runner->run(
                [$candidate, '-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'],
                15
            );
            $version = trim($result->stdout);
            if ($result->isOk() && preg_match('/^\d+\.\d+\.\d+$/', $version) === 1) {
                return [$candidate, $version];
            }
        }
        return null;
    }

    /** python3 >= 3.10 with the venv module; the wheels are in the module. No side effects. */
    public function check(): bool
    {
        $this->problems = [];
        $python = $this->findPython();
        if ($python === null) {
            return $this->fail('PythonMissing', ['min' => self::MIN_VERSION]);
        }
        [$binary, $version] = $python;
        if (version_compare($version, self::MIN_VERSION, '<')) {
            return $this->fail('PythonTooOld', ['version' => $version, 'path' => $binary, 'min' => self::MIN_VERSION]);
        }
        if (!$this->runner->run([$binary, '-c', 'import venv'], 15)->isOk()) {
            return $this->fail('PythonVenvMissing', ['path' => $binary]);
        }
        if ($this->pipWheel() === null || $this->workerWheel() === null) {
            return $this->fail('WheelsMissing', ['dir' => $this->paths->wheelsDir()]);
        }
        return true;
    }

    /** The venv exists, matches the shipped wheels and imports everything the worker needs. */
    public function isReady(): bool
    {
        $marker = $this->paths->venvDir() . '/' . self::MARKER;
        if (!is_file($this->paths->venvPython()) || !is_file($marker)) {
            return false;
        }
        if (trim((string)file_get_contents($marker)) !== $this->wheelsFingerprint()) {
            return false;
        }
        return $this->runner->run([$this->paths->venvPython(), '-I', '-c', self::IMPORT_CHECK], 60)->isOk();
    }

    /** Checks, then (re)builds the venv unless it is already ready. Idempotent. */
    public function ensure(): bool
    {
        if (!$this->check()) {
            return false;
        }
        if ($this->isReady()) {
            return true;
        }
        [$python] = $this->findPython();
        $venv = $this->paths->venvDir();
        $this->removeDir($venv);
        // --without-pip: ensurepip is often absent; pip runs from its shipped wheel instead.
        $made = $this->runner->run([$python, '-m', 'venv', '--without-pip', $venv], 120);
        if (!$made->isOk()) {
            $this->removeDir($venv);
            return $this->fail('VenvCreateFailed', ['details' => self::tail($made)]);
        }
        $installed = $this->runner->run([
            $this->paths->venvPython(), $this->pipWheel() . '/pip', 'install',
            '--no-index', '--find-links', $this->paths->wheelsDir(),
            '--disable-pip-version-check', '--no-cache-dir', '--no-warn-script-location',
            self::WORKER_DISTRIBUTION,
        ], 600);
        if (!$installed->isOk()) {
            $this->removeDir($venv);
            return $this->fail('WheelsInstallFailed', ['details' => self::tail($installed)]);
        }
        $imports = $this->runner->run([$this->paths->venvPython(), '-I', '-c', self::IMPORT_CHECK], 60);
        if (!$imports->isOk()) {
            $this->removeDir($venv);
            return $this->fail('WheelsInstallFailed', ['details' => self::tail($imports)]);
        }
        file_put_contents($venv . '/' . self::MARKER, $this->wheelsFingerprint() . "\n");
        return true;
    }

    public function pipWheel(): ?string
    {
        $found = glob($this->paths->wheelsDir() . '/pip-*.whl') ?: [];
        sort($found);
        return $found === [] ? null : end($found);
    }

    public function workerWheel(): ?string
    {
        $found = glob($this->paths->wheelsDir() . '/pbxfed_worker-*.whl') ?: [];
        sort($found);
        return $found === [] ? null : end($found);
    }

    private function wheelsFingerprint(): string
    {
        $names = array_map('basename', glob($this->paths->wheelsDir() . '/*.whl') ?: []);
        sort($names);
        return sha1(implode("\n", $names));
    }

    private static function tail(CommandResult $result): string
    {
        $text = trim($result->stderr !== '' ? $result->stderr : $result->stdout);
        return substr($text, -400);
    }

    private function removeDir(string $dir): void
    {
        if (!is_dir($dir) || is_link($dir)) {
            return;
        }
        $items = new \RecursiveIteratorIterator(
            new \RecursiveDirectoryIterator($dir, \FilesystemIterator::SKIP_DOTS),
            \RecursiveIteratorIterator::CHILD_FIRST
        );
        foreach ($items as $item) {
            if ($item->isDir() && !$item->isLink()) {
                @rmdir($item->getPathname());
            } else {
                @unlink($item->getPathname());
            }
        }
        @rmdir($dir);
    }
}
