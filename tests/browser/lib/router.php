<?php
/*
 * The router of `php -S` for one station's admin pages (tests/browser). Runs inside the sid chroot, in the
 * station's own mount namespace (its settings.json over /etc/inc/mikopbx-settings.json).
 *  - /admin-cabinet/assets/... (and /admin-cabinet/admin-cabinet/assets/..., as Phalcon 5.18.1 prints them):
 *    files of Core's sites/admin-cabinet, served as nginx serves them on a station;
 *  - /pbxcore/api/v3/auth:refresh: an access token, as Core's REST answers a logged-in admin's browser;
 *  - /pbxcore/api/modules/<module>/<action>: the request Core's ModulesControllerBase builds, handed to Core's
 *    own PbxExtensionsProcessor::callBack() (on a station WorkerApiCommands calls it), answered as Core's REST
 *    answers (PBXApiResult::getResult() as JSON);
 *  - everything else under /admin-cabinet/: Core's own sites/admin-cabinet/index.php.
 * Every request is appended to <runtime>/router.log (method, URI, status) for the tests.
 */

declare(strict_types=1);

$core = (string)getenv('PBXFED_CORE_DIR');
require __DIR__ . '/quiet_guzzle.php';
$runtime = (string)getenv('PBXFED_RUNTIME');
$uri = (string)($_SERVER['REQUEST_URI'] ?? '/');
$path = (string)parse_url($uri, PHP_URL_PATH);

function pbxfed_log(string $what): void
{
    $runtime = (string)getenv('PBXFED_RUNTIME');
    @file_put_contents($runtime . '/router.log', sprintf("%.3f %s %s %s\n", microtime(true),
        $_SERVER['REQUEST_METHOD'] ?? '-', $_SERVER['REQUEST_URI'] ?? '-', $what), FILE_APPEND);
}

// What nginx and Core's session give a station's admin page: the server's own address, and the admin's
// bearer token (AssetProvider adds the logged-in assets only with it).
$_SERVER['SERVER_ADDR'] = $_SERVER['SERVER_ADDR'] ?? '127.0.0.1';
if (!isset($_SERVER['HTTP_AUTHORIZATION'])) {
    $_SERVER['HTTP_AUTHORIZATION'] = 'Bearer pbxfed-browser-suite';
}

if (preg_match('#^/admin-cabinet/(?:admin-cabinet/)?(assets/.+)$#', $path, $m)
    || preg_match('#^/admin-cabinet/(favicon\.ico|robots\.txt)$#', $path, $m)) {
    // Module assets are symlinks out of Core's tree (PbxExtensionUtils::createAssetsSymlinks): no realpath check,
    // only no "..".
    $file = $core . '/sites/admin-cabinet/' . $m[1];
    if (strpos($m[1], '..') !== false || !is_file($file)) {
        http_response_code(404);
        pbxfed_log('404');
        return true;
    }
    $types = ['css' => 'text/css', 'js' => 'application/javascript', 'svg' => 'image/svg+xml', 'png' => 'image/png',
        'jpg' => 'image/jpeg', 'gif' => 'image/gif', 'woff' => 'font/woff', 'woff2' => 'font/woff2',
        'ttf' => 'font/ttf', 'eot' => 'application/vnd.ms-fontobject', 'ico' => 'image/x-icon', 'json' => 'application/json',
        'map' => 'application/json', 'txt' => 'text/plain'];
    $ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
    header('Content-Type: ' . ($types[$ext] ?? 'application/octet-stream'));
    header('Content-Length: ' . filesize($file));
    readfile($file);
    pbxfed_log('200 asset');
    return true;
}

if ($path === '/pbxcore/api/v3/auth:refresh') {
    header('Content-Type: application/json');
    echo json_encode(['result' => true, 'data' => ['accessToken' => 'pbxfed-browser-suite', 'expiresIn' => 3600]]);
    pbxfed_log('200 token');
    return true;
}

// Core's own REST calls the admin layout makes on every page (Core's advice, metrics and page tracker workers
// do not run here): the empty answers of a station that has nothing to report.
$coreCalls = [
    '/pbxcore/api/v3/advice:getList' => ['advice' => []],
    '/pbxcore/api/v3/license:sendPBXMetrics' => [],
    '/pbxcore/api/v3/user-page-tracker:pageView' => [],
    '/pbxcore/api/v3/user-page-tracker:pageLeave' => [],
];
if (isset($coreCalls[$path])) {
    header('Content-Type: application/json');
    echo json_encode(['result' => true, 'data' => $coreCalls[$path], 'messages' => []]);
    pbxfed_log('200 stand-in');
    return true;
}

if (preg_match('#^/pbxcore/api/modules/([A-Za-z0-9]+)/([A-Za-z0-9_:-]+)$#', $path, $m)) {
    $di = new \Phalcon\Di\FactoryDefault\Cli();
    \Phalcon\Di\Di::setDefault($di);
    require_once $core . '/src/Common/Config/ClassLoader.php';
    \MikoPBX\Core\Config\RegisterDIServices::init();
    $payload = $_SERVER['REQUEST_METHOD'] === 'GET' ? $_GET : $_POST;
    $payload['ip_srv'] = $_SERVER['SERVER_ADDR'];
    $request = [
        'processor' => \MikoPBX\PBXCoreREST\Lib\PbxExtensionsProcessor::class,
        'data' => $payload,
        'action' => $m[2],
        'async' => false,
        'asyncChannelId' => '',
        'module' => $m[1],
        'input' => file_get_contents('php://input'),
        'REQUEST_METHOD' => $_SERVER['REQUEST_METHOD'],
        'debug' => false,
        'httpMethod' => $_SERVER['REQUEST_METHOD'],
    ];
    $started = microtime(true);
    $res = \MikoPBX\PBXCoreREST\Lib\PbxExtensionsProcessor::callBack($request);
    header('Content-Type: application/json; charset=utf-8');
    echo json_encode($res->getResult(), JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
    pbxfed_log(sprintf('200 api %s %.3fs', $m[2], microtime(true) - $started));
    return true;
}

if (strpos($path, '/admin-cabinet/') === 0 || $path === '/admin-cabinet') {
    // A test may ask for every error to be reported (Debian's default; a station leaves warnings out).
    if (($_COOKIE['pbxfed_error_reporting'] ?? '') === 'E_ALL') {
        ini_set('error_reporting', (string)E_ALL);
        error_reporting(E_ALL);
    }
    chdir($core . '/sites/admin-cabinet');
    $_SERVER['SCRIPT_FILENAME'] = $core . '/sites/admin-cabinet/index.php';
    $_SERVER['SCRIPT_NAME'] = '/admin-cabinet/index.php';
    $_GET['_url'] = substr($path, strlen('/admin-cabinet'));
    try {
        require $core . '/sites/admin-cabinet/index.php';
    } finally {
        pbxfed_log((string)http_response_code() . ' page');
    }
    return true;
}

http_response_code(404);
pbxfed_log('404');
return true;
