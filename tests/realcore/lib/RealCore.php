<?php
/*
 * Helpers for the real-Core tests: where the run's runtime and the installed module are, and the
 * stand-ins for the services that cannot run here (each listed with its reason in README.md).
 */

declare(strict_types=1);

namespace PbxFedRealCore;

use Phalcon\Di\Di;

final class RealCore
{
    public const MODULE_ID = 'ModulePbxFederation';

    /** @var list<array{url: string, method: string, data: array<mixed>, headers: array<mixed>}> */
    public static array $restCalls = [];

    public static function runtime(): string
    {
        return (string)getenv('PBXFED_RUNTIME');
    }

    public static function moduleDir(): string
    {
        return self::runtime() . '/custom_modules/' . self::MODULE_ID;
    }

    public static function coreDir(): string
    {
        return (string)getenv('PBXFED_CORE_DIR');
    }

    public static function oldCoreDir(): string
    {
        return (string)getenv('PBXFED_CORE_OLD_DIR');
    }

    /** The run's settings (the file Core reads, /etc/inc/mikopbx-settings.json). */
    public static function settings(): array
    {
        return json_decode((string)file_get_contents('/etc/inc/mikopbx-settings.json'), true, 512, JSON_THROW_ON_ERROR);
    }

    public static function mikopbxDb(): string
    {
        return (string)self::settings()['database']['dbfile'];
    }

    /**
     * A fresh Core DI, as Core's own unit tests build one for every test. ClassLoader.php registers the
     * config service only the first time it is required (require_once), so later boots register it here.
     * RegisterDIServices::init() registers Whoops' error and exception handlers again on every boot; the
     * ones of the first boot (bootstrap.php) stay, the extra pair is removed so PHPUnit's checks hold.
     */
    public static function bootDi(): void
    {
        $di = new \Phalcon\Di\FactoryDefault\Cli();
        Di::reset();
        Di::setDefault($di);
        $di->register(new \MikoPBX\Common\Providers\ConfigProvider());
        \MikoPBX\Core\Config\RegisterDIServices::init();
        restore_error_handler();
        restore_exception_handler();
        self::installStandIns();
    }

    /** The station as freshly installed: migrated DB, no module data, empty caches and queues. */
    public static function freshStation(): void
    {
        $db = self::mikopbxDb();
        $copy = $db . '.fresh';
        if (!copy((string)getenv('PBXFED_MIGRATED_DB'), $copy) || !rename($copy, $db)) {
            throw new \RuntimeException("cannot restore $db");
        }
        @unlink($db . '-wal');
        @unlink($db . '-shm');
        $moduleDb = self::moduleDir() . '/db';
        exec('rm -rf ' . escapeshellarg($moduleDb) . ' && mkdir -p ' . escapeshellarg($moduleDb), $out, $rc);
        if ($rc !== 0) {
            throw new \RuntimeException("cannot empty $moduleDb");
        }
        $redis = new \Redis();
        $redis->connect('127.0.0.1', (int)self::settings()['redis']['port']);
        $redis->flushAll();
        self::$restCalls = [];
        self::bootDi();
        self::drainBeanstalk();
    }

    public static function beanstalk(): \Pheanstalk\Pheanstalk
    {
        return \Pheanstalk\Pheanstalk::create('127.0.0.1', (int)self::settings()['beanstalk']['port']);
    }

    /** Deletes every ready job of every tube. */
    public static function drainBeanstalk(): void
    {
        $queue = self::beanstalk();
        foreach ($queue->listTubes() as $tube) {
            $queue->watch($tube);
        }
        for ($i = 0; $i < 10000; $i++) {
            $job = $queue->reserveWithTimeout(0);
            if ($job === null) {
                return;
            }
            $queue->delete($job);
        }
    }

    /**
     * The jobs waiting in a tube, oldest first, left in place (reserved, then released).
     *
     * @return list<string>
     */
    public static function tubeJobs(string $tube): array
    {
        $queue = self::beanstalk();
        $queue->watchOnly($tube);
        $jobs = [];
        $reserved = [];
        for ($i = 0; $i < 1000; $i++) {
            $job = $queue->reserveWithTimeout(0);
            if ($job === null) {
                break;
            }
            $jobs[] = $job->getData();
            $reserved[] = $job;
        }
        foreach ($reserved as $job) {
            $queue->release($job);
        }
        return $jobs;
    }

    public const TUBE = 'MikoPBX-Core-Workers-WorkerModelsEvents';

    /**
     * The jobs now waiting on WorkerModelsEvents' tube, decoded as WorkerModelsEvents decodes them (BeanstalkClient
     * unserializes, processModelChanges json_decodes); the tube is emptied.
     *
     * @return list<array<string, mixed>>
     */
    public static function takeJobs(): array
    {
        $jobs = [];
        foreach (self::tubeJobs(self::TUBE) as $raw) {
            $jobs[] = json_decode(unserialize($raw, ['allowed_classes' => false]), true, 512, JSON_THROW_ON_ERROR);
        }
        self::drainBeanstalk();
        return $jobs;
    }

    /** A WorkerModelsEvents as Core's worker process has it after start-up (its planning state, nothing run). */
    public static function modelsEventsWorker(): \MikoPBX\Core\Workers\WorkerModelsEvents
    {
        $ref = new \ReflectionClass(\MikoPBX\Core\Workers\WorkerModelsEvents::class);
        $worker = $ref->newInstanceWithoutConstructor();
        $ref->getMethod('initializeWorker')->invoke($worker);
        return $worker;
    }

    /**
     * What Core's WorkerModelsEvents plans for these jobs, with its own code (processModelChanges' dispatch: an
     * invokeAction job plans its action, a model job goes to fillModifiedTables; nothing is executed).
     *
     * @param list<array<string, mixed>> $jobs
     * @return array{0: list<string>, 1: list<string>} the planned action classes (short names, sorted) and the
     *         models marked for the settings refresh
     */
    public static function plan(array $jobs, ?\MikoPBX\Core\Workers\WorkerModelsEvents $worker = null): array
    {
        $worker = $worker ?? self::modelsEventsWorker();
        $ref = new \ReflectionClass($worker);
        $reloadActions = $ref->getProperty('reloadActions')->getValue($worker);
        foreach ($jobs as $job) {
            if ($job['source'] === 'WorkerModelsEvents->invokeAction' && in_array($job['action'], $reloadActions, true)) {
                $ref->getMethod('planReloadAction')->invoke($worker, $job['action'], $job['parameters']);
            } elseif ($job['source'] === 'ModelsBase->sendChangesToBackend') {
                $ref->getMethod('fillModifiedTables')->invoke($worker, $job);
            }
        }
        $actions = array_map(static fn (string $c) => substr($c, strrpos($c, '\\') + 1),
            array_keys($ref->getProperty('plannedReloadActions')->getValue($worker)));
        sort($actions);
        $modified = array_keys($ref->getProperty('modifiedModels')->getValue($worker));
        sort($modified);
        return [$actions, $modified];
    }

    /**
     * What startReload() does before it runs the actions: the DI-shared config objects that depend on a modified
     * model re-read their settings (getNewSettingsForDependentModules).
     */
    public static function refreshSettings(\MikoPBX\Core\Workers\WorkerModelsEvents $worker): void
    {
        $ref = new \ReflectionClass($worker);
        foreach (array_keys($ref->getProperty('modifiedModels')->getValue($worker)) as $model) {
            $ref->getMethod('getNewSettingsForDependentModules')->invoke($worker, $model);
        }
        $ref->getProperty('modifiedModels')->setValue($worker, []);
    }

    /** Registers the module (installDB) and enables it the way Core's state flag says so. */
    public static function installAndEnable(): void
    {
        $setup = new \Modules\ModulePbxFederation\Setup\PbxExtensionSetup(self::MODULE_ID);
        if (!$setup->installDB()) {
            throw new \RuntimeException('installDB: ' . implode('; ', $setup->getMessages()));
        }
        self::setEnabled(true);
    }

    public static function setEnabled(bool $enabled): void
    {
        $row = \MikoPBX\Common\Models\PbxExtensionModules::findFirstByUniqid(self::MODULE_ID);
        if ($row === null) {
            throw new \RuntimeException('the module is not registered');
        }
        $row->disabled = $enabled ? '0' : '1';
        if (!$row->save()) {
            throw new \RuntimeException('cannot save the module row');
        }
        \MikoPBX\Common\Providers\PBXConfModulesProvider::recreateModulesProvider();
    }

    /**
     * The worker's runtime as the installer leaves it, for the code paths that ask (WorkerClient::isInstalled(),
     * bin/pbxfed): this harness runs the worker on the chroot's python3 with Debian's packages (PBXFED_PYTHON,
     * exported so that the module's own PHP passes it on, as do Core's hooks calling it), against the run's
     * mikopbx.db (PBXFED_MIKOPBX_DB). Building the box's runtime is tests/box's subject, not this harness's.
     */
    public static function provideWorkerRuntime(): void
    {
        putenv('PBXFED_PYTHON=/usr/bin/python3');
        putenv('PBXFED_MIKOPBX_DB=' . self::mikopbxDb());
        putenv('PYTHONPATH=' . self::moduleDir());  // the worker's package is the module's python_worker/
        $venv = self::moduleDir() . '/venv/bin';
        if (!is_dir($venv)) {
            mkdir($venv, 0755, true);
        }
        if (!is_link("$venv/python")) {
            symlink('/usr/bin/python3', "$venv/python");
        }
    }

    /** Stops the module's worker if one runs (bin/pbxfed stop: by the PID it recorded). */
    public static function stopWorker(): void
    {
        if (is_file(self::moduleDir() . '/bin/pbxfed')) {
            self::pbxfed(['stop'], 20);
        }
    }

    /**
     * Runs the module's bin/pbxfed as PHP on a station would (the worker on the chroot's python3 with Debian's
     * packages, PBXFED_PYTHON; the run's mikopbx.db, PBXFED_MIKOPBX_DB). Returns [exit code, stdout, stderr].
     *
     * @param list<string> $args
     * @param array<string, string> $env overrides
     * @param string|null $stdin what the command reads on stdin (a secret after `--secret -`, a form's JSON)
     * @return array{0: int, 1: string, 2: string}
     */
    public static function pbxfed(array $args, int $timeout = 120, array $env = [], ?string $stdin = null): array
    {
        $env = $env + getenv() + ['PBXFED_PYTHON' => '/usr/bin/python3', 'PBXFED_MIKOPBX_DB' => self::mikopbxDb(),
            'PYTHONPATH' => self::moduleDir()];
        $cmd = array_merge(['timeout', (string)$timeout, 'sh', self::moduleDir() . '/bin/pbxfed'], $args);
        $in = $stdin === null ? ['file', '/dev/null', 'r'] : ['pipe', 'r'];
        $proc = proc_open($cmd, [0 => $in, 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, self::moduleDir(), $env);
        if (!is_resource($proc)) {
            throw new \RuntimeException('cannot start bin/pbxfed');
        }
        if ($stdin !== null) {
            fwrite($pipes[0], $stdin);
            fclose($pipes[0]);
        }
        $out = (string)stream_get_contents($pipes[1]);
        $err = (string)stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        return [proc_close($proc), $out, $err];
    }

    /**
     * restAPIClient: Core posts to the station's own web server (http://localhost:<WEB_PORT>), which does
     * not run here. The recorder answers "not served" and keeps each call for the tests to inspect.
     */
    public static function installStandIns(): void
    {
        $di = Di::getDefault();
        $di->remove('restAPIClient');
        $di->set('restAPIClient', function (string $url, string $method = 'GET', array $data = [], array $headers = []) {
            RealCore::$restCalls[] = ['url' => $url, 'method' => $method, 'data' => $data, 'headers' => $headers];
            $res = new \MikoPBX\PBXCoreREST\Lib\PBXApiResult();
            $res->success = false;
            $res->messages['error'][] = 'tests/realcore: restAPIClient recorder (no web server here)';
            return $res;
        });
    }
}
