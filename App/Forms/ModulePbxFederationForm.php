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
use Phalcon\Forms\Element\Text;

/**
 * This station's settings (m_ModulePbxFederation).
 */
class ModulePbxFederationForm extends BaseForm
{
    public function initialize($entity = null, $options = null): void
    {
        $this->add(new Hidden('id'));
        $this->add(new Text('station_name', ['maxlength' => 32, 'placeholder' => 'moscow']));
        $this->add(new Text('display_name'));
        $this->add(new Text('own_patterns', ['placeholder' => '2XX']));
        $this->add(new Text('public_number', ['maxlength' => 17, 'placeholder' => '74951234000']));
        $this->add(new Numeric('public_trim', ['min' => 0, 'max' => 15, 'style' => 'width: 110px;']));
        $this->add(new Text('public_prepend', ['maxlength' => 17, 'placeholder' => '74951234']));
        foreach (['blf_default', 'transfers_default', 'overlap_fix_default'] as $switch) {
            $attributes = ['value' => null];
            if ($entity !== null && (string)$entity->$switch === '1') {
                $attributes['checked'] = 'checked';
            }
            $this->add(new Check($switch, $attributes));
        }
    }
}
