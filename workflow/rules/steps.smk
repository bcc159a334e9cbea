# One Snakemake rule per step of the declaration (diffrepro.dag.steps), the same steps that dvc.yaml runs as
# stages: the rule's name is the step's, its input function lists the input files and the step's code, its
# outputs are patterns in the step's foreach wildcard, and its shell command is the job's command line (a param:
# the shell directive is evaluated when the job runs, after this loop has moved on to the last step).
for step in STEPS:

    rule:
        name:
            step.name
        input:
            unpack(step_inputs(step)),
        output:
            **step_outputs(step),
        log:
            pattern(step, step.log),
        benchmark:
            pattern(step, step.benchmark)
        wildcard_constraints:
            **step_constraints(step),
        conda:
            "../envs/diffrepro.yaml"
        threads: step_threads(step)
        resources:
            **step_resources(step),
        params:
            **step_params(step),
        shell:
            "{params.command}"

    # the rule's description (`snakemake --list-rules`): the step's help (a docstring here would be one text for all)
    workflow.get_rule(step.name).docstring = step.help
