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
