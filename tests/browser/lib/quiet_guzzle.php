<?php
/*
 * Guzzle 7.8.1 (the pinned Composer package) declares implicitly nullable parameters: under PHP 8.4 loading
 * its classes raises E_DEPRECATED, which a station's error_reporting reports and Core's Whoops handler turns
 * into an exception (tests/realcore/README.md, "Stand-ins"). Core posts every model change to the station's
 * own web server through Guzzle (restAPIClient), so an admin page that saves a row would fail on that, not on
 * the module. This autoloader, put first, loads Guzzle's classes with E_DEPRECATED masked for the include only;
 * Core's code then runs unchanged (its post to http://localhost finds no server in the suite's network
 * namespace and is logged, as on a station whose nginx is down).
 */

declare(strict_types=1);

(static function (string $vendor): void {
    $roots = [
        'GuzzleHttp\\Psr7\\' => $vendor . '/guzzlehttp/psr7/src/',
        'GuzzleHttp\\Promise\\' => $vendor . '/guzzlehttp/promises/src/',
        'GuzzleHttp\\' => $vendor . '/guzzlehttp/guzzle/src/',
    ];
    spl_autoload_register(static function (string $class) use ($roots): void {
        foreach ($roots as $prefix => $dir) {
            if (strncmp($class, $prefix, strlen($prefix)) === 0) {
                $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
                if (is_file($file)) {
                    $level = error_reporting(error_reporting() & ~E_DEPRECATED);
                    try {
                        require $file;
                    } finally {
                        error_reporting($level);
                    }
                }
                return;
            }
        }
    }, true, true);
})((string)getenv('PBXFED_CORE_DIR') . '/vendor');
