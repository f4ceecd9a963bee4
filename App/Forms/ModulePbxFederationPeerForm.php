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
 * states because NULL means "as the station default".
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
    }
}
