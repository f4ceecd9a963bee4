<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * The station's own python3 as the worker needs it. There is no venv and no pip: the module zip carries, for
 * each CPython version and CPU it claims, every pure-Python package and missing stdlib piece as bytecode and
 * pyzmq's C extension (python/, docs/module-package.md); nothing is built on the station. Both checks ask
 * bin/pbxfed, the one entry point, which finds python3 and starts python/boot.py:
 * - check() = `bin/pbxfed probe`: one short python3 start, nothing of the worker imported. Cheap enough for
 *   checkCompatibility() and for onBeforeModuleEnable(), which Core calls inside its write transaction on
 *   mikopbx.db.
 * - doctor() = `bin/pbxfed doctor`: the worker's real import graph and C pieces, mikopbx.db read-only (about a
 *   second; more on a small ARM box). For installFiles(), which runs in Core's installer process outside any
 *   transaction.
 * Problems are translation keys with parameters, so Setup and the enable hook show them in the admin's language.
 * Core leaves every module file 644 until its last install step, so bin/pbxfed is run through /bin/sh.
 */
class PythonEnvironment
{
    /** Runtime sub-directories of python/ look like cp311-x86_64 (CPython 3.11 on x86_64). */
    private const RUNTIME_DIR_RE = '/^cp(\d)(\d+)-([A-Za-z0-9_]+)$/';

    public const PROBE_TIMEOUT = 20;

    /** The first doctor compiles the worker's own bytecode; a small ARM box needs several seconds for it. */
    public const DOCTOR_TIMEOUT = 90;

    /** bin/pbxfed: no python3 (127); no runtime for this python3 (5); a C module no runtime supplies (6). */
    public const EXIT_NO_PYTHON = 127;
    public const EXIT_NO_RUNTIME = 5;
    public const EXIT_MISSING = 6;

    /** @var WorkerPaths */
    private $paths;

    /** @var CommandRunner */
    private $runner;

    /** @var string[]|null python3 executables to try (tests); null: bin/pbxfed looks for python3 itself */
    private $candidates;

    /** @var array<int, array{0: string, 1: array<string, string>}> */
    private $problems = [];

    /** @var array<string, mixed> */
    private $report = [];

    /**
     * @param string[] $candidates python3 executables to try, in order (tests); empty: bin/pbxfed's own search
     */
    public function __construct(WorkerPaths $paths, CommandRunner $runner, array $candidates = [])
    {
        $this->paths = $paths;
        $this->runner = $runner;
        $this->candidates = $candidates !== [] ? $candidates : null;
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

    /** @return array<string, mixed> the last probe (key => value) or doctor report (decoded JSON) */
    public function report(): array
    {
        return $this->report;
    }

    private function fail(string $key, array $params = []): bool
    {
        $this->problems[] = ['module_pbx_federation_' . $key, $params];
        return false;
    }

    /** "CPython 3.11 on aarch64, x86_64": what python/ carries (the directories python/boot.py selects from). */
    public function shippedText(): string
    {
        $byVersion = [];
        foreach (glob($this->paths->runtimeDir() . '/cp*', GLOB_ONLYDIR) ?: [] as $dir) {
            if (preg_match(self::RUNTIME_DIR_RE, basename($dir), $m) === 1) {
                $byVersion[$m[1] . '.' . $m[2]][] = $m[3];
            }
        }
        ksort($byVersion);
        $parts = [];
        foreach ($byVersion as $version => $arches) {
            sort($arches);
            $parts[] = 'CPython ' . $version . ' (' . implode(', ', $arches) . ')';
        }
        return implode('; ', $parts);
    }

    /**
     * bin/pbxfed with its words, through /bin/sh; with an explicit python3 (tests) it is handed over as
     * PBXFED_PYTHON, the variable bin/pbxfed honours.
     *
     * @param string[] $words
     * @return string[]|null null when none of the given candidates exists
     */
    private function argv(array $words): ?array
    {
        $argv = array_merge(['/bin/sh', $this->paths->entryPoint()], $words);
        if ($this->candidates === null) {
            return $argv;
        }
        foreach ($this->candidates as $candidate) {
            if (is_file($candidate) && is_executable($candidate)) {
                return array_merge(['/usr/bin/env', 'PBXFED_PYTHON=' . $candidate], $argv);
            }
        }
        return null;
    }

    /** The module's own files for the runtime are there (a truncated archive is named as such). */
    private function hasRuntime(): bool
    {
        if (!is_file($this->paths->entryPoint()) || !is_file($this->paths->bootScript())
            || $this->shippedText() === '') {
            return $this->fail('RuntimeMissing', ['dir' => $this->paths->runtimeDir()]);
        }
        return true;
    }

    /**
     * The cheap check: python3 exists, the module carries a runtime for its version and CPU, and the C modules no
     * runtime can supply import. One short python3 start; no side effects.
     */
    public function check(): bool
    {
        $this->problems = [];
        $this->report = [];
        if (!$this->hasRuntime()) {
            return false;
        }
        $supported = $this->shippedText();
        $argv = $this->argv(['probe']);
        if ($argv === null) {
            return $this->fail('PythonMissing', ['supported' => $supported]);
        }
        $result = $this->runner->run($argv, self::PROBE_TIMEOUT);
        $this->report = self::keyValues($result->stdout);
        $path = (string)($this->report['executable'] ?? 'python3');
        $version = (string)($this->report['version'] ?? '?');
        if ($result->exitCode === self::EXIT_NO_PYTHON) {
            return $this->fail('PythonMissing', ['supported' => $supported]);
        }
        if ($result->exitCode === self::EXIT_NO_RUNTIME || ($result->isOk() && ($this->report['runtime'] ?? '') === '')) {
            return $this->fail('PythonUnsupported', [
                'path' => $path,
                'implementation' => self::implementationName((string)($this->report['implementation'] ?? '?')),
                'version' => $version,
                'machine' => (string)($this->report['machine'] ?? '?'),
                'supported' => $supported,
            ]);
        }
        if ($result->exitCode === self::EXIT_MISSING) {
            return $this->fail('PythonModulesMissing', [
                'path' => $path,
                'version' => $version,
                'modules' => str_replace(',', ', ', (string)($this->report['missing'] ?? '?')),
            ]);
        }
        if (!$result->isOk()) {
            return $this->fail('PythonCheckFailed', ['path' => $path, 'details' => self::tail($result)]);
        }
        return true;
    }

    /**
     * What onBeforeModuleEnable() may afford: Core holds its write transaction on mikopbx.db around that hook, so
     * only the cheap check runs (nothing is built there any more).
     */
    public function ensure(): bool
    {
        return $this->check();
    }

    /**
     * The full check, `bin/pbxfed doctor`: the worker's whole import graph and its C pieces (SQLite, zmq with CURVE,
     * inotify, ctypes), the templates and mikopbx.db read-only, on the station's python3 with the shipped runtime.
     */
    public function doctor(): bool
    {
        if (!$this->check()) {
            return false;
        }
        $probe = $this->report;
        $result = $this->runner->run((array)$this->argv(['doctor']), self::DOCTOR_TIMEOUT);
        $decoded = json_decode(trim($result->stdout), true);
        $this->report = is_array($decoded) ? $decoded : [];
        $path = (string)($probe['executable'] ?? 'python3');
        $version = (string)($probe['version'] ?? '?');
        if ($result->isOk() && ($this->report['ok'] ?? false) === true) {
            return true;
        }
        if (!is_array($decoded)) {
            $details = $result->timedOut ? 'no answer within ' . self::DOCTOR_TIMEOUT . ' s' : self::tail($result);
            return $this->fail('DoctorFailed', ['path' => $path, 'version' => $version, 'details' => $details]);
        }
        $failed = [];
        foreach ((array)($this->report['checks'] ?? []) as $check) {
            if (is_array($check) && ($check['ok'] ?? true) !== true) {
                $failed[] = (string)($check['name'] ?? '?') . ': ' . (string)($check['detail'] ?? '');
            }
        }
        $missing = array_map('strval', (array)($this->report['missing'] ?? []));
        if ($missing !== []) {
            return $this->fail('PythonModulesMissing', [
                'path' => $path, 'version' => $version, 'modules' => implode(', ', $missing),
            ]);
        }
        return $this->fail('DoctorFailed', [
            'path' => $path, 'version' => $version, 'details' => substr(implode('; ', $failed), 0, 600),
        ]);
    }

    /** @return array<string, string> the key=value lines of `bin/pbxfed probe` */
    private static function keyValues(string $text): array
    {
        $out = [];
        foreach (preg_split('/\R/', $text) ?: [] as $line) {
            $pos = strpos($line, '=');
            if ($pos !== false && $pos > 0) {
                $out[substr($line, 0, $pos)] = substr($line, $pos + 1);
            }
        }
        return $out;
    }

    private static function implementationName(string $name): string
    {
        return $name === 'cpython' ? 'CPython' : $name;
    }

    private static function tail(CommandResult $result): string
    {
        $text = trim($result->stderr !== '' ? $result->stderr : $result->stdout);
        if ($text === '') {
            $text = 'exit ' . $result->exitCode;
        }
        return substr($text, -400);
    }
}
