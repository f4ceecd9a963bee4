<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

use Throwable;

/**
 * Translates module_pbx_federation_* keys: Core's translation service when the caller has one,
 * else the module's own Messages/<lang>.php (workers and CLI scripts may run without it).
 */
final class Texts
{
    /** @var callable|null */
    private $translate;

    /** @var string */
    private $fallbackLanguage;

    /**
     * @param callable|null $translate function (string $key, array $params): string
     */
    public function __construct(?callable $translate = null, string $fallbackLanguage = 'en')
    {
        $this->translate = $translate;
        $this->fallbackLanguage = $fallbackLanguage;
    }

    /** Uses the DI 'translation' service when one is registered. */
    public static function fromDi(): self
    {
        foreach (['Phalcon\\Di\\Di', 'Phalcon\\Di'] as $diClass) {
            if (!class_exists($diClass) || !method_exists($diClass, 'getDefault')) {
                continue;
            }
            try {
                $di = $diClass::getDefault();
                if ($di !== null && $di->has('translation')) {
                    $translation = $di->getShared('translation');
                    return new self(static function (string $key, array $params) use ($translation): string {
                        return (string)$translation->_($key, $params);
                    });
                }
            } catch (Throwable $e) {
                break;
            }
        }
        return new self();
    }

    /**
     * @param array<string, string|int> $params replaces %name% in the text
     */
    public function get(string $key, array $params = []): string
    {
        if ($this->translate !== null) {
            $text = ($this->translate)($key, $params);
            if ($text !== '' && $text !== $key) {
                return $text;
            }
        }
        $messages = self::messages($this->fallbackLanguage);
        $text = $messages[$key] ?? $key;
        foreach ($params as $name => $value) {
            $text = str_replace('%' . $name . '%', (string)$value, $text);
        }
        return $text;
    }

    /**
     * @return array<string, string>
     */
    public static function messages(string $language): array
    {
        $file = dirname(__DIR__) . '/Messages/' . basename($language) . '.php';
        if (!is_file($file)) {
            $file = dirname(__DIR__) . '/Messages/en.php';
        }
        $messages = include $file;
        return is_array($messages) ? $messages : [];
    }
}
