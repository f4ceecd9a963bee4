<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * CLI entry the worker runs after it changed mikopbx.db behind Core's back:
 *   php -f <moduleDir>/Lib/ReloadCore.php [pjsip] [dialplan] [firewall] [manager]
 * With no argument all of them are reloaded. Exit code 0 when every reload was queued or done.
 */
final class ReloadCore
{
    /**
     * @param string[] $argv
     * @param resource|null $stderr where usage goes (tests pass a memory stream)
     */
    public static function main(array $argv, $stderr = null): int
    {
        $targets = array_slice($argv, 1);
        if ($targets === []) {
            $targets = array_keys(CoreReloader::ACTIONS);
        }
        foreach ($targets as $target) {
            if (!isset(CoreReloader::ACTIONS[$target])) {
                fwrite($stderr ?? STDERR, "usage: php -f ReloadCore.php [pjsip] [dialplan] [firewall] [manager]\n");
                return 2;
            }
        }
        $done = (new CoreReloader(new ModuleLog()))->reload($targets);
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
    require_once __DIR__ . '/CoreReloader.php';
    exit(ReloadCore::main($argv));
}
