<?php
/*
 * The module's models under Phalcon's real ORM on module.db (the connection Core's
 * ModulesDBConnectionsProvider registers for the module), and what Core's ModelsBase does after a save
 * or delete: a job on WorkerModelsEvents' beanstalk tube (2026.1.223, ModelsBase::sendChangesToBackend)
 * and a frontend event through the EventBus (restAPIClient, recorded here).
 */

declare(strict_types=1);

use Modules\ModulePbxFederation\Models\ModulePbxFederation;
use Modules\ModulePbxFederation\Models\ModulePbxFederationDirectory;
use Modules\ModulePbxFederation\Models\ModulePbxFederationPeers;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;

final class ModelsOrmTest extends RealCoreTestCase
{
    private const TUBE = 'MikoPBX-Core-Workers-WorkerModelsEvents';

    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        RealCore::bootDi();
        $setup = new PbxExtensionSetup(RealCore::MODULE_ID);
        self::assertTrue($setup->installDB());
        RealCore::drainBeanstalk();
    }

    /** @return list<array<string, mixed>> the jobs on WorkerModelsEvents' tube, decoded as the worker does */
    private static function modelJobs(): array
    {
        $out = [];
        foreach (RealCore::tubeJobs(self::TUBE) as $raw) {
            $json = unserialize($raw, ['allowed_classes' => false]);
            self::assertIsString($json, 'Core serializes the JSON text');
            $out[] = json_decode($json, true, 512, JSON_THROW_ON_ERROR);
        }
        return $out;
    }

    public function testPeerSavedAndReadBackThroughTheOrm(): void
    {
        $peer = new ModulePbxFederationPeers();
        $peer->name = 'spb';
        $peer->host = '127.0.0.3';
        $peer->patterns = '3XX';
        $peer->secret = str_repeat('a1', 16);
        self::assertTrue($peer->save(), implode('; ', array_map('strval', $peer->getMessages())));
        self::assertNotEmpty($peer->id);

        // Read with a fresh DI and with SQLite itself: the row is really in module.db.
        RealCore::bootDi();
        $found = ModulePbxFederationPeers::findFirst(['name = :n:', 'bind' => ['n' => 'spb']]);
        self::assertNotNull($found);
        self::assertSame('127.0.0.3', $found->host);
        self::assertSame('3XX', $found->patterns);
        self::assertSame('5060', (string)$found->port, 'column default from the annotation');
        self::assertSame('udp', $found->transport);
        $db = new SQLite3(RealCore::moduleDir() . '/db/module.db', SQLITE3_OPEN_READONLY);
        self::assertSame('127.0.0.3', $db->querySingle("SELECT host FROM m_ModulePbxFederationPeers WHERE name='spb'"));
        $db->close();
        // Not in Core's mikopbx.db.
        $main = new SQLite3(RealCore::mikopbxDb(), SQLITE3_OPEN_READONLY);
        self::assertFalse((bool)$main->querySingle("SELECT count(*) FROM sqlite_master WHERE name='m_ModulePbxFederationPeers'"));
        $main->close();
    }

    #[\PHPUnit\Framework\Attributes\Depends('testPeerSavedAndReadBackThroughTheOrm')]
    public function testSaveAndDeletePublishModelChangeJobs(): void
    {
        RealCore::drainBeanstalk();
        RealCore::$restCalls = [];
        $settings = new ModulePbxFederation();
        $settings->station_name = 'moscow';
        $settings->own_patterns = '2XX';
        self::assertTrue($settings->save());

        $peer = ModulePbxFederationPeers::findFirst(['name = :n:', 'bind' => ['n' => 'spb']]);
        $peer->host = '127.0.0.4';
        self::assertTrue($peer->save());
        $peerId = $peer->id;
        self::assertTrue($peer->delete());

        $jobs = self::modelJobs();
        $byModel = [];
        foreach ($jobs as $job) {
            self::assertSame('ModelsBase->sendChangesToBackend', $job['source']);
            $byModel[] = [$job['model'], $job['action']];
        }
        self::assertContains([ModulePbxFederation::class, 'afterSave'], $byModel);
        self::assertContains([ModulePbxFederationPeers::class, 'afterSave'], $byModel);
        self::assertContains([ModulePbxFederationPeers::class, 'afterDelete'], $byModel);
        $update = array_values(array_filter($jobs, static fn ($j) => $j['model'] === ModulePbxFederationPeers::class && $j['action'] === 'afterSave'))[0];
        self::assertSame($peerId, (int)$update['recordId']);
        self::assertSame(['host'], array_values($update['changedFields']), 'only the changed field');

        // 2026.1 also publishes every change to the admin pages' event bus (through restAPIClient).
        $events = array_filter(RealCore::$restCalls, static fn ($c) => str_contains($c['url'], 'nchan') || str_contains(json_encode($c['data']), 'models-changed'));
        self::assertNotEmpty($events, 'frontend model-change events: ' . json_encode(RealCore::$restCalls));
    }

    public function testDirectoryModelRoundTrip(): void
    {
        $row = new ModulePbxFederationDirectory();
        $row->peer = 'spb';
        $row->version = '3';
        $row->entries = json_encode([['number' => '301', 'name' => 'Anna']]);
        $row->received_at = 1700000000;
        self::assertTrue($row->save());
        RealCore::bootDi();
        $back = ModulePbxFederationDirectory::findFirstByPeer('spb');
        self::assertNotNull($back);
        self::assertSame('Anna', json_decode((string)$back->entries, true)[0]['name']);
        self::assertSame('1700000000', (string)$back->received_at);
    }
}
