<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use Throwable;

/**
 * The admin's language, in one place: Core's `language` DI service (the web admin's language on both 2024.1 and
 * 2026.1: the JWT or the request's choice, then the WebAdminLanguage setting), reduced to what this module
 * speaks: 'ru' for Russian, 'en' for everything else (the worker's rule too: python_worker/core/problems.py).
 */
final class AdminLanguage
{
    public static function of(string $code): string
    {
        return strpos(strtolower(trim($code)), 'ru') === 0 ? 'ru' : 'en';
    }

    public static function current(): string
    {
        foreach (['Phalcon\\Di\\Di', 'Phalcon\\Di'] as $diClass) {
            if (!class_exists($diClass) || !method_exists($diClass, 'getDefault')) {
                continue;
            }
            try {
                $di = $diClass::getDefault();
                if ($di !== null && $di->has('language')) {
                    return self::of((string)$di->getShared('language'));
                }
            } catch (Throwable $e) {
                break;
            }
        }
        return 'en';
    }
}
