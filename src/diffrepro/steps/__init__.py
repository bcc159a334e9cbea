"""One module per DAG step: ``diffrepro.steps.<step>`` defines ``run(args)``, which parses nothing, calls library
functions and writes the step's outputs.

The step itself (its command, inputs, outputs, parameter keys and resources, and so its argument parser) is
declared in :mod:`diffrepro.dag.steps`; the ``diffrepro <step>`` command (:mod:`diffrepro.cli`) imports the
module only when the step runs. A step's code dependencies are its module's import closure
(:mod:`diffrepro.codedeps`), so this package's ``__init__``, in every closure, holds nothing but this text.
"""
