<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\App\Forms;

use MikoPBX\AdminCabinet\Forms\BaseForm;
use Phalcon\Forms\Element\Check;
use Phalcon\Forms\Element\Hidden;
use Phalcon\Forms\Element\Numeric;
use Phalcon\Forms\Element\Password;
use Phalcon\Forms\Element\Select;
use Phalcon\Forms\Element\Text;

/**
 * One peer station (m_ModulePbxFederationPeers). BLF, transfers and the overlap fix have three
 * states because NULL means "as the station default". The PSTN fallback and transit fields are checked by the
 * worker like every other field.
 */
class ModulePbxFederationPeerForm extends BaseForm
{
    public function initialize($entity = null, $options = null): void
    {
        $translation = $options['translation'] ?? null;
        $t = static function (string $key) use ($translation): string {
            return $translation !== null ? (string)$translation->_($key) : $key;
        };

        $this->add(new Hidden('id'));
        $this->add(new Text('name', ['maxlength' => 32, 'placeholder' => 'spb']));
        $this->add(new Text('host', ['placeholder' => '192.0.2.10']));
        $this->add(new Numeric('port', ['min' => 1, 'max' => 65535, 'style' => 'width: 110px;']));
        $this->add(new Select('transport', ['udp' => 'UDP', 'tcp' => 'TCP', 'tls' => 'TLS'], [
            'useEmpty' => false,
            'class' => 'ui selection dropdown',
        ]));
        $this->add(new Text('patterns', ['placeholder' => '3XX,4XXX']));
        // A password input, as Core's own secrets (ExtensionEditForm's sip_secret); the page's eye button shows it.
        $secret = new Password('secret', ['autocomplete' => 'new-password', 'data-no-password-manager' => 'true']);
        $secret->setDefault((string)($entity->secret ?? ''));
        $this->add($secret);

        $enabled = ['value' => null];
        if ($entity === null || (string)$entity->enabled !== '0') {
            $enabled['checked'] = 'checked';
        }
        $this->add(new Check('enabled', $enabled));

        $triState = [
            ''  => $t('module_pbx_federation_UseStationDefault'),
            '1' => $t('module_pbx_federation_On'),
            '0' => $t('module_pbx_federation_Off'),
        ];
        foreach (['blf', 'transfers', 'overlap_fix'] as $field) {
            $select = new Select($field, $triState, ['useEmpty' => false, 'class' => 'ui selection dropdown']);
            $select->setDefault($entity !== null && $entity->$field !== null ? (string)$entity->$field : '');
            $this->add($select);
        }
        // Core's BaseForm::addTextArea() (2026.1) with an empty value and no placeholder runs a foreach over an
        // empty string: a warning, which Whoops turns into an exception wherever warnings are reported.
        $this->addTextArea('note', (string)($entity->note ?? ''), 90,
            ['placeholder' => $t('module_pbx_federation_PeerNotePlaceholder')]);

        // PSTN fallback and transit: the providers the worker says may carry such calls ($options['providers'],
        // from `providers --json`), plus the one already chosen, so a saved value always shows.
        $choices = static function (string $use, string $current) use ($options, $t): array {
            $list = ['' => $t('module_pbx_federation_NoProvider')];
            foreach ((array)($options['providers'] ?? []) as $row) {
                if (is_array($row) && !empty($row[$use])) {
                    $label = (string)($row['description'] ?? '') !== '' ? (string)$row['description'] : (string)$row['uniqid'];
                    $list[(string)$row['uniqid']] = $label;
                }
            }
            if ($current !== '' && !isset($list[$current])) {
                $list[$current] = $current;
            }
            return $list;
        };
        foreach (['fallback' => 'fallback_provider', 'transit' => 'transit_provider'] as $use => $field) {
            $current = (string)($entity->$field ?? '');
            $select = new Select($field, $choices($use, $current), ['useEmpty' => false, 'class' => 'ui selection dropdown']);
            $select->setDefault($current);
            $this->add($select);
        }
        $this->add(new Numeric('fallback_trim', ['min' => 0, 'max' => 15, 'style' => 'width: 110px;']));
        $this->add(new Text('fallback_prepend', ['maxlength' => 17, 'placeholder' => '78125550']));
        $this->add(new Text('transit_patterns', ['placeholder' => '8495XXXXXXX']));
        $this->add(new Numeric('transit_limit', ['min' => 1, 'max' => 1000, 'style' => 'width: 110px;']));
        $this->add(new Text('transit_callerid', ['maxlength' => 17, 'placeholder' => '74951234000']));
        $this->add(new Text('via_patterns', ['placeholder' => '8812XXXXXXX']));
    }
}
