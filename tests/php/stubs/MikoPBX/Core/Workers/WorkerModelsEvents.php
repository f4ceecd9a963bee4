<?php
// Test stand-in for MikoPBX Core's WorkerModelsEvents: records queued actions.

namespace MikoPBX\Core\Workers;

class WorkerModelsEvents
{
    /** @var string[] */
    public static $invoked = [];

    public static function invokeAction(string $action, array $parameters = [], int $priority = 0): void
    {
        self::$invoked[] = $action;
    }
}
