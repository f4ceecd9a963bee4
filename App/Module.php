<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\App;

use Phalcon\Di\DiInterface;
use Phalcon\Events\Manager;
use Phalcon\Mvc\Dispatcher;
use Phalcon\Mvc\ModuleDefinitionInterface;

/**
 * Admin cabinet module definition: points the dispatcher at this module's controllers.
 */
class Module implements ModuleDefinitionInterface
{
    public function registerAutoloaders(?DiInterface $container = null)
    {
    }

    public function registerServices(DiInterface $container)
    {
        $container->set('dispatcher', function () {
            $dispatcher = new Dispatcher();
            $dispatcher->setEventsManager(new Manager());
            $dispatcher->setDefaultNamespace('Modules\\ModulePbxFederation\\App\\Controllers\\');
            return $dispatcher;
        });
    }
}
