<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use Throwable;

/**
 * CLI entry the worker runs after it committed rows to mikopbx.db (python_worker/apply/system.py, php-core):
 *   php -f <moduleDir>/Lib/ReloadCore.php -- [--events FILE|-] [pjsip] [dialplan] [firewall] [manager]
 * --events: Core's model-change messages for the rows written (a JSON array, '-' = standard input), published to
 * WorkerModelsEvents as Core's models publish them (CoreEvents): Core then plans its own reloads for those rows.
 * The targets: reloads no row change implies (the hook texts changed), asked for as Core's reload actions.
 * Without --events and targets all three actions are asked for. Exit 0 when everything was published or queued,
 * 1 when something was not (the worker then rolls back), 2 on bad arguments.
 */
final class ReloadCore
{
    public const USAGE = "usage: php -f ReloadCore.php -- [--events FILE|-] [pjsip] [dialplan] [firewall] [manager]\n";

    /**
     * @param string[] $argv
     * @param resource|null $stderr where problems go (tests pass a memory stream)
     * @param resource|null $stdin where '--events -' reads from
     * @param object|null $di Core's DI (the default one when null)
     */
    public static function main(array $argv, $stderr = null, $stdin = null, $di = null): int
    {
        $stderr = $stderr ?? STDERR;
        $args = array_values(array_filter(array_slice($argv, 1), static function ($a): bool {
            return $a !== '--';
        }));
        $eventsFrom = null;
        $targets = [];
        for ($i = 0; $i < count($args); $i++) {
            if ($args[$i] === '--events') {
                if (!isset($args[$i + 1])) {
                    fwrite($stderr, self::USAGE);
                    return 2;
                }
                $eventsFrom = $args[++$i];
                continue;
            }
            if (!isset(CoreReloader::ACTIONS[$args[$i]])) {
                fwrite($stderr, self::USAGE);
                return 2;
            }
            $targets[] = $args[$i];
        }
        if ($eventsFrom === null && $targets === []) {
            $targets = array_keys(CoreReloader::ACTIONS);
        }
        try {
            $events = [];
            if ($eventsFrom !== null) {
                $json = $eventsFrom === '-' ? stream_get_contents($stdin ?? STDIN) : @file_get_contents($eventsFrom);
                if (!is_string($json)) {
                    fwrite($stderr, "cannot read the events from $eventsFrom\n");
                    return 2;
                }
                $events = CoreEvents::parse($json);
            }
            $done = [CoreEvents::publish($events, $di)];
            $done = array_merge($done, (new CoreReloader(new ModuleLog()))->reload($targets));
        } catch (Throwable $e) {
            // Never let it escape: Core's error handler disables a module whose file throws.
            fwrite($stderr, 'ModulePbxFederation: Core was not told: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
            return 1;
        }
        echo implode("\n", $done), "\n";
        foreach ($done as $line) {
            if (strpos($line, 'unavailable:') === 0) {
                return 1;
            }
        }
        return 0;
    }
}

if (PHP_SAPI === 'cli' && isset($argv[0]) && realpath($argv[0]) === realpath(__FILE__)) {
    // Globals.php (on Core's include_path) boots Core's DI and autoloaders, ours included.
    if ((@include_once 'Globals.php') === false) {
        fwrite(STDERR, "Globals.php not found: this runs on a MikoPBX station only\n");
        exit(3);
    }
    require_once __DIR__ . '/ModuleLog.php';
    require_once __DIR__ . '/CoreEvents.php';
    require_once __DIR__ . '/CoreReloader.php';
    exit(ReloadCore::main($argv));
}
