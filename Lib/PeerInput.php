<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Turns the peer form's POST into the row shape the worker validates and the model stores.
 */
final class PeerInput
{
    public const FIELDS = ['name', 'host', 'port', 'transport', 'patterns', 'secret', 'enabled',
        'blf', 'transfers', 'overlap_fix', 'note', 'fallback_provider', 'fallback_trim', 'fallback_prepend',
        'transit_patterns', 'transit_provider', 'transit_limit', 'transit_callerid', 'via_patterns'];

    /**
     * @param array<string, mixed> $post
     * @return array<string, mixed> every model column but id; id added when editing
     */
    public static function fromPost(array $post): array
    {
        $text = static function (string $key) use ($post): string {
            return trim((string)($post[$key] ?? ''));
        };
        $triState = static function (string $key) use ($post): ?int {
            $value = (string)($post[$key] ?? '');
            return $value === '' ? null : ($value === '1' ? 1 : 0);
        };
        // A whole number as a number; anything else stays text for the worker to refuse (naming the field).
        $whole = static function (string $key, ?int $empty) use ($text) {
            $value = $text($key);
            if ($value === '') {
                return $empty;
            }
            return ctype_digit($value) && strlen($value) <= 6 ? (int)$value : $value;
        };
        $list = static function (string $key) use ($text): string {
            return implode(',', array_values(array_filter(array_map('trim', explode(',', $text($key))), 'strlen')));
        };
        $port = $text('port');
        $peer = [
            'name' => $text('name'),
            'host' => $text('host'),
            'port' => ctype_digit($port) ? (int)$port : ($port === '' ? 5060 : $port),
            'transport' => strtolower($text('transport')),
            'patterns' => implode(',', array_values(array_filter(array_map('trim', explode(',', $text('patterns'))), 'strlen'))),
            'secret' => (string)($post['secret'] ?? ''),
            'enabled' => in_array($post['enabled'] ?? '', ['on', '1', 1, true], true) ? 1 : 0,
            'blf' => $triState('blf'),
            'transfers' => $triState('transfers'),
            'overlap_fix' => $triState('overlap_fix'),
            'note' => (string)($post['note'] ?? ''),
            'fallback_provider' => $text('fallback_provider'),
            'fallback_trim' => $whole('fallback_trim', 0),
            'fallback_prepend' => $text('fallback_prepend'),
            'transit_patterns' => $list('transit_patterns'),
            'transit_provider' => $text('transit_provider'),
            'transit_limit' => $whole('transit_limit', null),
            'transit_callerid' => $text('transit_callerid'),
            'via_patterns' => $list('via_patterns'),
        ];
        $id = $text('id');
        if ($id !== '' && ctype_digit($id)) {
            $peer['id'] = (int)$id;
        }
        return $peer;
    }
}
