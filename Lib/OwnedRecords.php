<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use PDO;
use RuntimeException;
use Throwable;

/**
 * Removes every row the module owns in mikopbx.db from PHP, for when the worker cannot run (a broken runtime is
 * exactly when an admin uninstalls). The worker's `disable` is the normal way (python_worker/db/owned.py owns the
 * rules); these are the same rules, and tests/realcore/tests/LifecycleTest.php checks that both remove the same
 * rows: a row is the module's when its note (providers, routes) or description (filters, firewall rules, custom
 * files) starts with the mark; m_Sip and m_SipHosts rows when their provider is; Core's default incoming rule
 * (priority 9999) never. With them go the rows Core's relations cascade (FirewallRules of our filters,
 * OutWorkTimesRouts of our incoming routes). One transaction; then Core is told as after the worker's writes
 * (CoreEvents) and pjsip, the dialplan and the firewall are reloaded.
 */
final class OwnedRecords
{
    public const MARK = 'ModulePbxFederation:';
    public const MODELS = 'MikoPBX\\Common\\Models\\';
    private const DEFAULT_RULE_PRIORITY = 9999;

    /** @var WorkerPaths */
    private $paths;

    /** @var ModuleLog */
    private $log;

    /** @var PDO|null */
    private $pdo;

    public function __construct(WorkerPaths $paths, ModuleLog $log, ?PDO $pdo = null)
    {
        $this->paths = $paths;
        $this->log = $log;
        $this->pdo = $pdo;
    }

    /**
     * Which rows are the module's, by table: [table => [id => row]].
     *
     * @return array<string, array<int, array<string, mixed>>>
     */
    public function find(): array
    {
        $db = $this->pdo();
        $tables = array_flip($db->query("SELECT name FROM sqlite_master WHERE type = 'table'")->fetchAll(PDO::FETCH_COLUMN));
        $marked = static function (string $col): string {
            return "substr($col, 1, " . strlen(self::MARK) . ") = " . "'" . self::MARK . "'";
        };
        $uids = $db->query('SELECT uniqid FROM m_Providers WHERE ' . $marked('note'))->fetchAll(PDO::FETCH_COLUMN);
        $records = json_decode((string)@file_get_contents($this->paths->stateDir() . '/records.json'), true);
        foreach ((array)($records['providers'] ?? []) as $provider) {
            $uids[] = (string)($provider['m_Providers']['uniqid'] ?? '');
        }
        $uids = array_values(array_unique(array_filter(array_map('strval', $uids))));
        $in = $uids === [] ? "('')" : '(' . implode(', ', array_map([$db, 'quote'], $uids)) . ')';
        $queries = [
            'm_Providers' => "SELECT * FROM m_Providers WHERE uniqid IN $in OR " . $marked('note'),
            'm_Sip' => "SELECT * FROM m_Sip WHERE uniqid IN $in",
            'm_SipHosts' => "SELECT * FROM m_SipHosts WHERE provider_id IN $in",
            'm_OutgoingRoutingTable' => 'SELECT * FROM m_OutgoingRoutingTable WHERE ' . $marked('note'),
            'm_IncomingRoutingTable' => 'SELECT * FROM m_IncomingRoutingTable WHERE priority IS NOT '
                . self::DEFAULT_RULE_PRIORITY . ' AND ' . $marked('note'),
            'm_NetworkFilters' => 'SELECT * FROM m_NetworkFilters WHERE ' . $marked('description'),
            'm_CustomFiles' => 'SELECT * FROM m_CustomFiles WHERE ' . $marked('description'),
        ];
        $found = [];
        foreach ($queries as $table => $sql) {
            $found[$table] = isset($tables[$table]) ? $this->rows($sql) : [];
        }
        $filters = implode(', ', array_map('intval', array_keys($found['m_NetworkFilters']))) ?: '0';
        $found['m_FirewallRules'] = $this->rows('SELECT * FROM m_FirewallRules WHERE ' . $marked('description')
            . " OR CAST(networkfilterid AS INTEGER) IN ($filters)");
        $routes = implode(', ', array_map(static function ($id): string {
            return "'" . (int)$id . "'";
        }, array_keys($found['m_IncomingRoutingTable']))) ?: "''";
        $found['m_OutWorkTimesRouts'] = isset($tables['m_OutWorkTimesRouts'])
            ? $this->rows("SELECT * FROM m_OutWorkTimesRouts WHERE CAST(routId AS TEXT) IN ($routes)") : [];
        return array_filter($found);
    }

    /** Deletes what find() finds in one transaction, then tells Core and has it reload. */
    public function removeAll(): bool
    {
        $db = $this->pdo();
        $db->exec('BEGIN IMMEDIATE');
        try {
            $found = $this->find();
            foreach ($found as $table => $rows) {
                $delete = $db->prepare("DELETE FROM \"$table\" WHERE id = :id");
                foreach (array_keys($rows) as $id) {
                    $delete->execute(['id' => $id]);
                }
            }
            $db->exec('COMMIT');
        } catch (Throwable $e) {
            $db->exec('ROLLBACK');
            throw $e;
        }
        $this->emptyState();
        $events = self::deleteEvents($found);
        $count = count($events);
        $this->log->info("removed the module's $count rows from mikopbx.db (PHP)");
        CoreEvents::publish($events);
        (new CoreReloader($this->log))->reload(['pjsip', 'dialplan', 'firewall']);
        return true;
    }

    /**
     * The afterDelete messages Core's models publish for these rows (CustomFiles: its path and mode).
     *
     * @param array<string, array<int, array<string, mixed>>> $found
     * @return array<int, array<string, mixed>>
     */
    public static function deleteEvents(array $found): array
    {
        $events = [];
        foreach ($found as $table => $rows) {
            $model = self::MODELS . substr($table, 2);
            foreach ($rows as $id => $row) {
                if ($table === 'm_CustomFiles') {
                    $fields = ['filepath' => $row['filepath'] ?? null, 'mode' => $row['mode'] ?? null];
                } else {
                    $fields = array_values(array_diff(array_keys($row), ['id']));
                    $fields[] = 'id';
                }
                $events[] = ['source' => CoreEvents::SOURCE, 'model' => $model, 'recordId' => (string)$id,
                    'action' => 'afterDelete', 'changedFields' => $fields];
            }
        }
        return $events;
    }

    /** hooks.json with nothing to add, records.json with nothing applied: what the worker's `disable` leaves. */
    private function emptyState(): void
    {
        $dir = $this->paths->stateDir();
        if (!is_dir($dir)) {
            return;
        }
        $records = json_decode((string)@file_get_contents("$dir/records.json"), true);
        $empty = ['format' => 1, 'module' => 'ModulePbxFederation',
            'station' => is_array($records) ? ($records['station'] ?? new \stdClass()) : new \stdClass(),
            'providers' => [], 'outgoing_routes' => [], 'incoming_routes' => [], 'network_filters' => [],
            'firewall_rules' => [], 'custom_files' => []];
        $files = ['records.json' => $empty, 'hooks.json' => array_fill_keys(HookTexts::HOOKS, '')];
        foreach ($files as $name => $body) {
            if (@file_put_contents("$dir/$name.tmp", json_encode($body, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)) !== false) {
                @rename("$dir/$name.tmp", "$dir/$name");
            }
        }
    }

    /** @return array<int, array<string, mixed>> id => row */
    private function rows(string $sql): array
    {
        $out = [];
        foreach ($this->pdo()->query($sql)->fetchAll(PDO::FETCH_ASSOC) as $row) {
            $out[(int)$row['id']] = $row;
        }
        return $out;
    }

    /** mikopbx.db as Core's settings name it (database.dbfile of mikopbx-settings.json), when Core's DI is up. */
    private static function coreDatabaseFile(): ?string
    {
        foreach (['Phalcon\\Di\\Di', 'Phalcon\\Di'] as $diClass) {
            if (!class_exists($diClass) || !method_exists($diClass, 'getDefault')) {
                continue;
            }
            $di = $diClass::getDefault();
            if ($di !== null && $di->has('config')) {
                $file = (string)$di->getShared('config')->path('database.dbfile');
                return $file !== '' ? $file : null;
            }
        }
        return null;
    }

    private function pdo(): PDO
    {
        if ($this->pdo === null) {
            $file = self::coreDatabaseFile() ?? $this->paths->mikopbxDb();
            if (!is_file($file)) {
                throw new RuntimeException("$file does not exist");
            }
            $this->pdo = new PDO('sqlite:' . $file, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
            $this->pdo->exec('PRAGMA busy_timeout = 5000');
        }
        return $this->pdo;
    }
}
