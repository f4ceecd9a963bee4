<?php
/*
 * Lib/ReloadCore.php, the entry the worker runs after each commit, against Core 2026.1.223: the model-change
 * messages go onto WorkerModelsEvents' tube exactly as a model save puts them there (Core's BeanstalkClient:
 * PHP-serialized JSON, the same keys in the same order), Core's managed cache of each model is cleared as
 * ModelsBase::clearCache does it, the targets become Core's reload actions; anything wrong is refused with an
 * exit code and never escapes (Core's error handler disables a module whose file throws).
 */

declare(strict_types=1);

use MikoPBX\Common\Models\SipHosts;
use MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions\ReloadDialplanAction;
use Modules\ModulePbxFederation\Lib\ReloadCore;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class ReloadCoreTest extends RealCoreTestCase
{
    /** @return array{0: int, 1: string, 2: string} exit code, stdout, stderr */
    private static function reloadCore(array $args, string $stdin = '', ?object $di = null): array
    {
        $err = fopen('php://memory', 'w+');
        $in = fopen('php://memory', 'w+');
        fwrite($in, $stdin);
        rewind($in);
        ob_start();
        $rc = ReloadCore::main(array_merge(['ReloadCore.php'], $args), $err, $in, $di);
        $out = (string)ob_get_clean();
        rewind($err);
        return [$rc, $out, (string)stream_get_contents($err)];
    }

    public function testAModelsJobIsWhatTheWorkersEventBecomes(): void
    {
        $host = new SipHosts();
        $host->provider_id = 'SIP-TRUNK-ABCDEF0123';
        $host->address = '127.0.0.9';
        self::assertTrue($host->save());
        [$fromModel] = RealCore::tubeJobs(RealCore::TUBE);
        RealCore::drainBeanstalk();

        $event = ['source' => 'ModelsBase->sendChangesToBackend', 'model' => SipHosts::class,
            'recordId' => (string)$host->id, 'action' => 'afterSave', 'changedFields' => ['provider_id', 'address', 'id']];
        [$rc, $out] = self::reloadCore(['--events', '-'], (string)json_encode([$event]));
        self::assertSame(0, $rc);
        self::assertSame("published:1\n", $out);
        [$fromWorker] = RealCore::tubeJobs(RealCore::TUBE);
        self::assertSame($fromModel, $fromWorker, 'byte for byte what the model published');
    }

    public function testCoresCacheOfEachModelIsCleared(): void
    {
        $cache = Di::getDefault()->getShared('managedCache');
        $cache->set('SipHosts:probe', 'cached');
        $cache->set('Users:probe', 'cached');
        $event = ['model' => SipHosts::class, 'recordId' => '1', 'action' => 'afterDelete',
            'changedFields' => ['provider_id', 'address', 'id']];
        self::assertSame(0, self::reloadCore(['--events', '-'], (string)json_encode([$event]))[0]);
        self::assertFalse($cache->has('SipHosts:probe'));
        self::assertSame('cached', $cache->get('Users:probe'));
        RealCore::drainBeanstalk();
    }

    public function testTargetsBecomeCoresReloadActions(): void
    {
        RealCore::drainBeanstalk();
        [$rc, $out] = self::reloadCore(['--events', '-', 'dialplan'], '[]');
        self::assertSame(0, $rc);
        self::assertSame("published:0\nqueued:dialplan\n", $out);
        $jobs = RealCore::takeJobs();
        self::assertSame([['source' => 'WorkerModelsEvents->invokeAction', 'action' => ReloadDialplanAction::class,
            'parameters' => [], 'model' => '']], $jobs);
    }

    public function testBadInputIsRefusedAndNothingIsPublished(): void
    {
        RealCore::drainBeanstalk();
        self::assertSame(2, self::reloadCore(['restart-asterisk'])[0]);
        self::assertSame(2, self::reloadCore(['--events'])[0]);
        foreach (['{"model": "x"}', '[{"model": "App\\\\Evil", "action": "afterSave", "changedFields": []}]',
                     '[{"model": "MikoPBX\\\\Common\\\\Models\\\\Sip", "action": "drop", "changedFields": []}]'] as $bad) {
            [$rc, , $err] = self::reloadCore(['--events', '-'], $bad);
            self::assertSame(1, $rc, $bad);
            self::assertStringContainsString('Core was not told', $err);
        }
        self::assertSame([], RealCore::takeJobs());
    }

    public function testAQueueThatFailsIsAFailedReloadNotAnEscapedException(): void
    {
        $di = new Phalcon\Di\FactoryDefault\Cli();
        $di->setShared('beanstalkConnectionModels', function () {
            return new class {
                public function publish(string $job): void
                {
                    throw new RuntimeException('beanstalkd: connection refused');
                }
            };
        });
        $event = ['model' => SipHosts::class, 'recordId' => '1', 'action' => 'afterSave', 'changedFields' => ['address']];
        [$rc, , $err] = self::reloadCore(['--events', '-'], (string)json_encode([$event]), $di);
        self::assertSame(1, $rc);
        self::assertStringContainsString('connection refused', $err);
    }
}
