<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use RuntimeException;

/**
 * Tells Core of rows written with SQL exactly as Core's own models tell it of theirs.
 *
 * Every save or delete through a Core model publishes {source: "ModelsBase->sendChangesToBackend", model, recordId,
 * action, changedFields} with the DI service `beanstalkConnectionModels` (a BeanstalkClient on WorkerModelsEvents'
 * tube) and then clears the model's entries in Core's managed cache (ModelsBase::clearCache), both in Core's
 * src/Common/Models/ModelsBase.php at 2024.1.114 and 2026.1.223 (2026.1 skips both while the system boots).
 * WorkerModelsEvents then plans Core's own reloads for those models, refreshes the config objects it caches and calls
 * every module's modelsEventChangeData. The messages are built by the worker from what its transaction wrote
 * (python_worker/apply/core_events.py); this class checks their shape and publishes them with Core's own client.
 * Not sent: 2026.1's frontend "models-changed" event (open admin pages refresh from it; one HTTP post per row).
 */
final class CoreEvents
{
    public const SOURCE = 'ModelsBase->sendChangesToBackend';
    public const QUEUE_SERVICE = 'beanstalkConnectionModels';
    public const MODELS_NAMESPACE = 'MikoPBX\\Common\\Models\\';
    public const MODELS_BASE = 'MikoPBX\\Common\\Models\\ModelsBase';
    public const SYSTEM = 'MikoPBX\\Core\\System\\System';

    /**
     * The messages in `$json` (a JSON array), each checked; throws with the reason on anything else.
     *
     * @return array<int, array<string, mixed>>
     */
    public static function parse(string $json): array
    {
        $decoded = json_decode($json, true);
        if (!is_array($decoded) || ($decoded !== [] && array_keys($decoded) !== range(0, count($decoded) - 1))) {
            throw new RuntimeException('the events are not a JSON array');
        }
        $events = [];
        foreach ($decoded as $i => $event) {
            $events[] = self::checked($event, $i);
        }
        return $events;
    }

    /**
     * @param mixed $event
     * @return array<string, mixed>
     */
    private static function checked($event, int $index): array
    {
        if (!is_array($event)) {
            throw new RuntimeException("event $index is not an object");
        }
        $model = $event['model'] ?? null;
        if (!is_string($model) || strpos($model, self::MODELS_NAMESPACE) !== 0
            || preg_match('/^[A-Za-z\\\\]+$/', $model) !== 1) {
            throw new RuntimeException("event $index: model must be a class of " . self::MODELS_NAMESPACE);
        }
        $action = $event['action'] ?? null;
        if ($action !== 'afterSave' && $action !== 'afterDelete') {
            throw new RuntimeException("event $index: action must be afterSave or afterDelete");
        }
        $recordId = $event['recordId'] ?? '';
        if (!is_string($recordId) && !is_int($recordId)) {
            throw new RuntimeException("event $index: recordId must be a string");
        }
        $fields = $event['changedFields'] ?? null;
        if (!is_array($fields)) {
            throw new RuntimeException("event $index: changedFields must be a list or an object");
        }
        return [
            'source' => self::SOURCE,
            'model' => $model,
            'recordId' => (string)$recordId,
            'action' => $action,
            'changedFields' => $fields,
        ];
    }

    /**
     * Publishes each message to WorkerModelsEvents and clears Core's cache of each model, as a model save would.
     *
     * @param array<int, array<string, mixed>> $events from parse()
     * @param object|null $di Core's DI container (the default one when null)
     * @return string what was done: "published:<n>" or "skipped:booting"
     */
    public static function publish(array $events, $di = null): string
    {
        if ($events === []) {
            return 'published:0';
        }
        $system = self::SYSTEM;
        if (class_exists($system) && method_exists($system, 'isBooting') && $system::isBooting()) {
            // Core's models track nothing while the station boots; Core renders everything afterwards.
            return 'skipped:booting';
        }
        $di = $di ?? self::defaultDi();
        if ($di === null || !$di->has(self::QUEUE_SERVICE)) {
            throw new RuntimeException('Core has no ' . self::QUEUE_SERVICE . ' service');
        }
        $queue = $di->getShared(self::QUEUE_SERVICE);
        foreach ($events as $event) {
            $queue->publish((string)json_encode($event));
        }
        $base = self::MODELS_BASE;
        $models = array_values(array_unique(array_map(static function (array $e): string {
            return (string)$e['model'];
        }, $events)));
        if (class_exists($base) && method_exists($base, 'clearCache')) {
            foreach ($models as $model) {
                $base::clearCache($model);
            }
        }
        return 'published:' . count($events);
    }

    /** @return object|null */
    private static function defaultDi()
    {
        foreach (['Phalcon\\Di\\Di', 'Phalcon\\Di'] as $diClass) {
            if (class_exists($diClass) && method_exists($diClass, 'getDefault')) {
                return $diClass::getDefault();
            }
        }
        return null;
    }
}
