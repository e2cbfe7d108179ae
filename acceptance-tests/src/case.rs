//! Test cases and steps, modelled on terraform-plugin-testing's `TestCase` /
//! `TestStep`, run once per Terraform CLI of the matrix.

use std::any::Any;
use std::io::Write;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value as Json;

use crate::HarnessError;
use crate::cli::{TerraformCli, matrix};
use crate::json::{Diagnostic, Plan, State, attribute_differences};
use crate::labpool::LabPool;
use crate::provider::{hcl_string, required_providers_block, target_debug_dir};
use crate::workdir::{ProviderMode, WorkDir};

/// What a check sees.
pub struct Ctx<'a> {
    /// The CLI running this case.
    pub cli: &'a TerraformCli,
    /// The document under check: a plan (`show -json tfplan`) for plan
    /// checks, a state (`show -json`) for state checks and CheckDestroy.
    pub doc: &'a Json,
    /// The state after the previous config step, if any.
    pub previous_state: Option<&'a Json>,
    /// The lab pool of this case, when the case started one.
    pub labpool: Option<&'a LabPool>,
}

impl<'a> Ctx<'a> {
    pub fn plan(&self) -> Plan<'a> {
        Plan(self.doc)
    }
    pub fn state(&self) -> State<'a> {
        State(self.doc)
    }
    pub fn previous(&self) -> Option<State<'a>> {
        self.previous_state.map(State)
    }
}

/// A plan/state check: `Err` carries the failure message.
pub type Check = Arc<dyn Fn(&Ctx<'_>) -> Result<(), String> + Send + Sync>;
/// A check over the text output (stdout + stderr) of a step's `plan` command.
pub type OutputCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;
/// A check over the diagnostics of a step that must fail, with the config text.
pub type DiagnosticsCheck = Arc<dyn Fn(&[Diagnostic], &str) -> Result<(), String> + Send + Sync>;
/// Starts an in-process provider for one CLI run: the mode to use and a guard
/// that keeps the server alive until the run ends.
pub type ProviderSetup =
    Arc<dyn Fn(&TerraformCli) -> Result<(ProviderMode, Box<dyn Any>), HarnessError> + Send + Sync>;

/// One step of a case.
#[derive(Clone)]
pub enum Step {
    Config(ConfigStep),
    Import(ImportStep),
}

/// Write a configuration, then plan/apply/check it (or expect it to fail).
#[derive(Clone)]
pub struct ConfigStep {
    config: String,
    plan_checks: Vec<Check>,
    state_checks: Vec<Check>,
    expect_error: Option<Regex>,
    error_at_plan: bool,
    diagnostics_checks: Vec<DiagnosticsCheck>,
    expect_non_empty_plan: bool,
    pre_config: Vec<Check>,
    plan_output_checks: Vec<OutputCheck>,
}

impl Step {
    /// A config step with `hcl` as the whole configuration.
    pub fn config(hcl: impl Into<String>) -> ConfigStep {
        ConfigStep {
            config: hcl.into(),
            plan_checks: Vec::new(),
            state_checks: Vec::new(),
            expect_error: None,
            error_at_plan: false,
            diagnostics_checks: Vec::new(),
            expect_non_empty_plan: false,
            pre_config: Vec::new(),
            plan_output_checks: Vec::new(),
        }
    }

    /// An import step for the resource at `address`.
    pub fn import(address: &str) -> ImportStep {
        ImportStep {
            address: address.to_string(),
            id: ImportId::FromAttribute("id".to_string()),
            kind: ImportKind::Command,
            verify: true,
            verify_ignore: Vec::new(),
            state_checks: Vec::new(),
            expect_empty_plan: false,
        }
    }
}

impl ConfigStep {
    /// A check on the saved plan before it is applied (`ConfigPlanChecks.PreApply`).
    pub fn plan_check(
        mut self,
        f: impl Fn(&Ctx<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.plan_checks.push(Arc::new(f));
        self
    }

    /// A check on the state after apply (`Check` / `ConfigStateChecks`).
    pub fn state_check(
        mut self,
        f: impl Fn(&Ctx<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.state_checks.push(Arc::new(f));
        self
    }

    /// The step must fail (at plan or at apply) with an error diagnostic whose
    /// summary or detail matches `pattern`, and must leave the state untouched.
    pub fn expect_error(mut self, pattern: &str) -> Self {
        // An invalid pattern is a bug in the test itself.
        self.expect_error = Some(Regex::new(pattern).unwrap_or_else(|e| {
            panic!("invalid expect_error pattern {pattern:?}: {e}");
        }));
        self
    }

    /// Like [`ConfigStep::expect_error`], and the error must come at plan time
    /// (invalid input never reaches apply).
    pub fn expect_plan_error(mut self, pattern: &str) -> Self {
        self = self.expect_error(pattern);
        self.error_at_plan = true;
        self
    }

    /// Checks the diagnostics of a failing step (with the config text, to
    /// resolve source ranges).
    pub fn diagnostics(
        mut self,
        f: impl Fn(&[Diagnostic], &str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.diagnostics_checks.push(Arc::new(f));
        self
    }

    /// Runs before the step's configuration is written and planned
    /// (`PreConfig`), e.g. to change the pool behind Terraform's back or to
    /// inject a fault. `doc` is the previous step's state (`null` when none).
    pub fn pre_config(
        mut self,
        f: impl Fn(&Ctx<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.pre_config.push(Arc::new(f));
        self
    }

    /// A check on the text output (stdout + stderr, `-no-color`) of the
    /// step's `plan -out` command, e.g. for warnings, which the JSON plan
    /// does not carry.
    pub fn plan_output_check(
        mut self,
        f: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.plan_output_checks.push(Arc::new(f));
        self
    }

    /// Allows the plans after apply to be non-empty (`ExpectNonEmptyPlan`).
    pub fn expect_non_empty_plan(mut self) -> Self {
        self.expect_non_empty_plan = true;
        self
    }

    pub fn into_step(self) -> Step {
        Step::Config(self)
    }
}

impl From<ConfigStep> for Step {
    fn from(s: ConfigStep) -> Step {
        Step::Config(s)
    }
}

impl From<ImportStep> for Step {
    fn from(s: ImportStep) -> Step {
        Step::Import(s)
    }
}

/// How an import step imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    /// `terraform import ADDRESS ID` into a fresh state, with the step's config.
    Command,
    /// An `import { to, id }` block with the step's config: `plan` must show
    /// the resource as imported with no other change, then `apply`.
    Block,
    /// An `import` block alone, `plan -generate-config-out`, `apply`; then a
    /// plan with the generated configuration must be empty (round trip).
    BlockGenerateConfig,
}

/// Computes an import ID from the previous step's state.
pub type ImportIdFn = Arc<dyn Fn(&State<'_>) -> Option<String> + Send + Sync>;

/// Where the import ID comes from.
#[derive(Clone)]
pub enum ImportId {
    Fixed(String),
    /// An attribute of the resource in the previous step's state.
    FromAttribute(String),
    /// Computed from the previous step's state (`ImportStateIdFunc`).
    Func(ImportIdFn),
}

/// Import a resource into a fresh working directory and compare it with the
/// state of the previous config step (`ImportStateVerify`).
#[derive(Clone)]
pub struct ImportStep {
    address: String,
    id: ImportId,
    kind: ImportKind,
    verify: bool,
    verify_ignore: Vec<String>,
    state_checks: Vec<Check>,
    expect_empty_plan: bool,
}

impl ImportStep {
    pub fn kind(mut self, kind: ImportKind) -> Self {
        self.kind = kind;
        self
    }
    pub fn id(mut self, id: &str) -> Self {
        self.id = ImportId::Fixed(id.to_string());
        self
    }
    pub fn id_from_attribute(mut self, attribute: &str) -> Self {
        self.id = ImportId::FromAttribute(attribute.to_string());
        self
    }
    /// The import ID computed from the previous step's state.
    pub fn id_with(
        mut self,
        f: impl Fn(&State<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.id = ImportId::Func(Arc::new(f));
        self
    }
    /// Attributes (and their sub-paths) not compared with the prior state.
    pub fn verify_ignore(mut self, paths: &[&str]) -> Self {
        self.verify_ignore
            .extend(paths.iter().map(|p| p.to_string()));
        self
    }
    /// Do not compare with the prior state.
    pub fn no_verify(mut self) -> Self {
        self.verify = false;
        self
    }
    /// After the import, a refreshing plan with the step's configuration must
    /// be empty (for [`ImportKind::Command`] and [`ImportKind::Block`]; the
    /// generated-config kind always checks this).
    pub fn expect_empty_plan(mut self) -> Self {
        self.expect_empty_plan = true;
        self
    }
    /// A check on the state in the import directory after the import.
    pub fn state_check(
        mut self,
        f: impl Fn(&Ctx<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.state_checks.push(Arc::new(f));
        self
    }
}

/// A named sequence of steps, run once per CLI of the matrix.
pub struct TestCase {
    name: String,
    steps: Vec<Step>,
    check_destroy: Vec<Check>,
    env: Vec<(String, String)>,
    remove_env: Vec<String>,
    provider: Option<ProviderSetup>,
    labpool: bool,
    lab_config: Option<labpool::Config>,
    clis: Option<Vec<TerraformCli>>,
}

impl TestCase {
    pub fn new(name: &str) -> TestCase {
        TestCase {
            name: name.to_string(),
            steps: Vec::new(),
            check_destroy: Vec::new(),
            env: Vec::new(),
            remove_env: Vec::new(),
            provider: None,
            labpool: false,
            lab_config: None,
            clis: None,
        }
    }

    pub fn step(mut self, step: impl Into<Step>) -> Self {
        self.steps.push(step.into());
        self
    }

    /// Runs after the final `destroy`, with the state before destroy as
    /// `previous_state` and the (empty) state after it as `doc`.
    pub fn check_destroy(
        mut self,
        f: impl Fn(&Ctx<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check_destroy.push(Arc::new(f));
        self
    }

    /// Sets an environment variable for every CLI command (and the provider).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Removes an inherited environment variable from every CLI command.
    pub fn without_env(mut self, key: &str) -> Self {
        self.remove_env.push(key.to_string());
        self
    }

    /// Removes `XENAPI_*` provider settings: the case must work with no pool.
    pub fn without_pool(self) -> Self {
        [
            "XENAPI_URL",
            "XENAPI_USERNAME",
            "XENAPI_PASSWORD",
            "XENAPI_INSECURE",
            "XENAPI_CA_CERTIFICATE",
            "XENAPI_TLS_FINGERPRINT_SHA256",
        ]
        .iter()
        .fold(self, |case, key| case.without_env(key))
    }

    /// Serves the provider through `TF_REATTACH_PROVIDERS` instead of
    /// `dev_overrides`: `setup` starts it (per CLI run) and returns the mode and
    /// a guard that keeps it alive.
    pub fn reattach(mut self, setup: ProviderSetup) -> Self {
        self.provider = Some(setup);
        self
    }

    /// Uses no provider of ours (configurations with Terraform built-ins only).
    pub fn without_provider(mut self) -> Self {
        self.provider = Some(Arc::new(|_| Ok((ProviderMode::None, Box::new(())))));
        self
    }

    /// Runs the case against a pool: the lab pool started in-process, or the
    /// real pool named by `XENAPI_URL` / `XENAPI_USERNAME` / `XENAPI_PASSWORD`.
    /// After destroy, the lab pool must hold nothing the case created.
    pub fn with_pool(mut self) -> Self {
        self.labpool = true;
        self
    }

    /// Like [`TestCase::with_pool`], with this lab pool configuration (another
    /// inventory, boot time, latency...) when no real pool is configured.
    pub fn with_lab_config(mut self, config: labpool::Config) -> Self {
        self.labpool = true;
        self.lab_config = Some(config);
        self
    }

    /// Restricts the case to the given CLIs (default: the whole matrix).
    pub fn clis(mut self, clis: Vec<TerraformCli>) -> Self {
        self.clis = Some(clis);
        self
    }

    /// Runs every step with every CLI; panics with every failure. Each
    /// outcome is recorded in `target/acceptance-report.tsv`.
    pub fn run(self) {
        if let Err(message) = self.execute(true) {
            panic!("{message}");
        }
    }

    /// Runs every step with every CLI; `Err` lists each CLI's failure (not
    /// recorded in the report: for tests of the harness itself).
    pub fn try_run(&self) -> Result<(), String> {
        self.execute(false)
    }

    fn execute(&self, record: bool) -> Result<(), String> {
        let clis: Vec<TerraformCli> = match &self.clis {
            Some(c) => c.clone(),
            None => matrix().map_err(|e| e.to_string())?.to_vec(),
        };
        if clis.is_empty() {
            return Err(format!("{}: no Terraform CLI to run with", self.name));
        }
        let mut failures = Vec::new();
        for cli in &clis {
            match self.run_with(cli) {
                Ok(()) => {
                    eprintln!("{}: passed with {cli}", self.name);
                    if record {
                        report(&self.name, cli, "passed");
                    }
                }
                Err(e) => {
                    if record {
                        report(&self.name, cli, "FAILED");
                    }
                    failures.push(format!("=== {} with {cli}:\n{e}", self.name));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n\n"))
        }
    }

    fn new_workdir(&self, cli: &TerraformCli, mode: &ProviderMode) -> Result<WorkDir, String> {
        let mut wd = WorkDir::new(cli, mode.clone()).map_err(|e| e.to_string())?;
        for key in &self.remove_env {
            wd.remove_env(key);
        }
        for (key, value) in &self.env {
            wd.set_env(key, value);
        }
        Ok(wd)
    }

    /// One CLI run: steps, then destroy and CheckDestroy (destroy is attempted
    /// even after a failed step, so nothing is left behind).
    pub fn run_with(&self, cli: &TerraformCli) -> Result<(), String> {
        let (mode, _guard): (ProviderMode, Box<dyn Any>) = match &self.provider {
            Some(setup) => setup(cli).map_err(|e| e.to_string())?,
            None => (ProviderMode::DevOverrides, Box::new(())),
        };
        let real_pool = std::env::var("XENAPI_URL").is_ok_and(|u| !u.is_empty());
        let pool = match (&self.lab_config, self.labpool) {
            (Some(config), true) if !real_pool => {
                Some(LabPool::start_lab(config.clone()).map_err(|e| e.to_string())?)
            }
            (_, true) => Some(LabPool::start().map_err(|e| e.to_string())?),
            (_, false) => None,
        };
        let mut wd = self.new_workdir(cli, &mode)?;
        if let Some(pool) = &pool {
            for (key, value) in pool.provider_env() {
                wd.set_env(&key, &value);
            }
        }
        let baseline = match &pool {
            Some(p) => Some(p.snapshot().map_err(|e| e.to_string())?),
            None => None,
        };
        if matches!(mode, ProviderMode::Reattach(_)) {
            wd.write_config(&required_providers_block())
                .and_then(|_| wd.init().map(|_| ()))
                .map_err(|e| format!("init: {e}"))?;
        }

        let mut previous_state: Option<Json> = None;
        let mut last_config: Option<String> = None;
        let mut step_error: Option<String> = None;
        for (index, step) in self.steps.iter().enumerate() {
            let result = match step {
                Step::Config(s) => {
                    self.run_config_step(&mut wd, s, &mut previous_state, pool.as_ref())
                }
                Step::Import(s) => self.run_import_step(
                    cli,
                    &mode,
                    s,
                    previous_state.as_ref(),
                    last_config.as_deref(),
                    pool.as_ref(),
                ),
            };
            if let Step::Config(s) = step
                && s.expect_error.is_none()
            {
                last_config = Some(s.config.clone());
            }
            if let Err(e) = result {
                step_error = Some(format!("step {} failed: {e}", index + 1));
                break;
            }
        }

        // Final destroy with the last applied configuration (like
        // terraform-plugin-testing's runPostTestDestroy).
        if let Some(config) = &last_config
            && let Err(e) = wd.write_config(config)
        {
            return Err(join_errors(step_error, format!("rewrite config: {e}")));
        }
        let before_destroy = wd.state().ok();
        let destroy_error = wd.destroy().err().map(|e| format!("destroy failed: {e}"));
        let mut errors: Vec<String> = step_error.into_iter().chain(destroy_error).collect();
        if errors.is_empty() {
            match wd.state() {
                Ok(after) => {
                    if !State(&after).is_empty() {
                        errors.push(format!(
                            "state not empty after destroy: {:?}",
                            State(&after)
                                .resources()
                                .iter()
                                .map(|r| r.address.clone())
                                .collect::<Vec<_>>()
                        ));
                    }
                    let ctx = Ctx {
                        cli,
                        doc: &after,
                        previous_state: before_destroy.as_ref(),
                        labpool: pool.as_ref(),
                    };
                    for check in &self.check_destroy {
                        if let Err(e) = check(&ctx) {
                            errors.push(format!("CheckDestroy: {e}"));
                        }
                    }
                }
                Err(e) => errors.push(format!("state after destroy: {e}")),
            }
        }
        if let (Some(pool), Some(baseline)) = (&pool, &baseline) {
            match pool.leftovers(baseline) {
                Ok(left) if left.is_empty() => {}
                Ok(left) => errors.push(format!(
                    "objects created by the test remain in the pool: {}",
                    left.join(", ")
                )),
                Err(e) => errors.push(format!("lab pool leftover check: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            let path = wd.persist();
            errors.push(format!("working directory kept at {}", path.display()));
            Err(errors.join("\n"))
        }
    }

    fn run_config_step(
        &self,
        wd: &mut WorkDir,
        step: &ConfigStep,
        previous_state: &mut Option<Json>,
        pool: Option<&LabPool>,
    ) -> Result<(), String> {
        let cli = wd.cli().clone();
        if !step.pre_config.is_empty() {
            let null = Json::Null;
            let ctx = Ctx {
                cli: &cli,
                doc: previous_state.as_ref().unwrap_or(&null),
                previous_state: previous_state.as_ref(),
                labpool: pool,
            };
            for hook in &step.pre_config {
                hook(&ctx).map_err(|e| format!("pre-config: {e}"))?;
            }
        }
        wd.write_config(&step.config).map_err(|e| e.to_string())?;
        if let Some(pattern) = &step.expect_error {
            return run_expected_error(wd, step, pattern);
        }
        let plan = wd.plan_saved(&[]).map_err(|e| e.to_string())?;
        if !step.plan_output_checks.is_empty() {
            let text = wd
                .history()
                .iter()
                .rev()
                .find(|c| c.args.first().map(String::as_str) == Some("plan"))
                .map(|c| format!("{}\n{}", c.stdout, c.stderr))
                .unwrap_or_default();
            for check in &step.plan_output_checks {
                check(&text).map_err(|e| format!("plan output check: {e}"))?;
            }
        }
        let ctx = Ctx {
            cli: &cli,
            doc: &plan,
            previous_state: previous_state.as_ref(),
            labpool: pool,
        };
        for check in &step.plan_checks {
            check(&ctx).map_err(|e| format!("plan check: {e}"))?;
        }
        wd.apply_saved().map_err(|e| e.to_string())?;
        let state = wd.state().map_err(|e| e.to_string())?;
        let ctx = Ctx {
            cli: &cli,
            doc: &state,
            previous_state: previous_state.as_ref(),
            labpool: pool,
        };
        for check in &step.state_checks {
            check(&ctx).map_err(|e| format!("state check: {e}"))?;
        }
        if !step.expect_non_empty_plan {
            for refresh in [false, true] {
                let plan = wd.plan_detailed(refresh).map_err(|e| e.to_string())?;
                if !plan.empty {
                    return Err(format!(
                        "after applying this step, the {} plan was not empty:\n{}",
                        if refresh { "refreshing" } else { "non-refresh" },
                        plan.output.stdout
                    ));
                }
            }
        }
        *previous_state = Some(state);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_import_step(
        &self,
        cli: &TerraformCli,
        mode: &ProviderMode,
        step: &ImportStep,
        previous_state: Option<&Json>,
        last_config: Option<&str>,
        pool: Option<&LabPool>,
    ) -> Result<(), String> {
        let prior = previous_state.ok_or("an import step needs a prior config step")?;
        let prior_values = State(prior).resource(&step.address);
        let id = match &step.id {
            ImportId::Fixed(id) => id.clone(),
            ImportId::FromAttribute(attr) => prior_values
                .as_ref()
                .and_then(|v| v.get(attr))
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "no string attribute {attr:?} of {} in the prior state",
                        step.address
                    )
                })?,
            ImportId::Func(f) => f(&State(prior))
                .ok_or_else(|| format!("no import ID for {} from the prior state", step.address))?,
        };
        let config = last_config.ok_or("an import step needs a prior config step")?;
        let mut wd = self.new_workdir(cli, mode)?;
        if let Some(pool) = pool {
            for (key, value) in pool.provider_env() {
                wd.set_env(&key, &value);
            }
        }
        let import_block = format!(
            "\nimport {{\n  to = {}\n  id = {}\n}}\n",
            step.address,
            hcl_string(&id)
        );
        match step.kind {
            ImportKind::Command => {
                wd.write_config(config).map_err(|e| e.to_string())?;
                if matches!(mode, ProviderMode::Reattach(_)) {
                    wd.init().map_err(|e| e.to_string())?;
                }
                wd.import(&step.address, &id).map_err(|e| e.to_string())?;
                if step.expect_empty_plan {
                    expect_empty_after_import(&mut wd)?;
                }
            }
            ImportKind::Block => {
                wd.write_config(&format!("{config}{import_block}"))
                    .map_err(|e| e.to_string())?;
                if matches!(mode, ProviderMode::Reattach(_)) {
                    wd.init().map_err(|e| e.to_string())?;
                }
                // Only the imported resource: the rest of the configuration
                // must not be created in the import directory.
                let target = format!("-target={}", step.address);
                let plan = wd.plan_saved(&[&target]).map_err(|e| e.to_string())?;
                check_import_plan(&plan, &step.address, &id)?;
                wd.apply_saved().map_err(|e| e.to_string())?;
                if step.expect_empty_plan {
                    expect_empty_after_import(&mut wd)?;
                }
            }
            ImportKind::BlockGenerateConfig => {
                wd.write_config(&format!("{}{import_block}", required_providers_block()))
                    .map_err(|e| e.to_string())?;
                if matches!(mode, ProviderMode::Reattach(_)) {
                    wd.init().map_err(|e| e.to_string())?;
                }
                let plan = wd
                    .plan_saved(&["-generate-config-out=generated.tf"])
                    .map_err(|e| e.to_string())?;
                check_import_plan(&plan, &step.address, &id)?;
                wd.apply_saved().map_err(|e| e.to_string())?;
                let again = wd.plan_detailed(true).map_err(|e| e.to_string())?;
                if !again.empty {
                    let generated = std::fs::read_to_string(wd.work_dir().join("generated.tf"))
                        .unwrap_or_default();
                    return Err(format!(
                        "the plan after importing with the generated configuration is not empty:\n{}\n--- generated.tf ---\n{generated}",
                        again.output.stdout
                    ));
                }
            }
        }
        let state = wd.state().map_err(|e| e.to_string())?;
        let imported = State(&state)
            .resource(&step.address)
            .ok_or_else(|| format!("{} is not in the state after the import", step.address))?;
        if step.verify {
            let expected = prior_values.ok_or_else(|| {
                format!(
                    "{} is not in the prior state to verify against",
                    step.address
                )
            })?;
            let mut ignore: Vec<&str> = step.verify_ignore.iter().map(String::as_str).collect();
            ignore.push("timeouts");
            let diffs = attribute_differences(&expected, &imported, &ignore);
            if !diffs.is_empty() {
                return Err(format!(
                    "ImportStateVerify: the imported {} differs from the prior state:\n  {}",
                    step.address,
                    diffs.join("\n  ")
                ));
            }
        }
        let ctx = Ctx {
            cli,
            doc: &state,
            previous_state,
            labpool: pool,
        };
        for check in &step.state_checks {
            check(&ctx).map_err(|e| format!("import state check: {e}"))?;
        }
        // The import directory's state shares the real objects with the main
        // directory: drop it without destroying them.
        wd.remove_state().map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn expect_empty_after_import(wd: &mut WorkDir) -> Result<(), String> {
    let plan = wd.plan_detailed(true).map_err(|e| e.to_string())?;
    if plan.empty {
        Ok(())
    } else {
        Err(format!(
            "the plan after the import is not empty:\n{}",
            plan.output.stdout
        ))
    }
}

fn check_import_plan(plan: &Json, address: &str, id: &str) -> Result<(), String> {
    let p = Plan(plan);
    let change = p
        .change(address)
        .ok_or_else(|| format!("the import plan has no change for {address}"))?;
    let actions = p.actions_for(address).unwrap_or_default();
    let importing_id = plan
        .get("resource_changes")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|rc| rc.get("address").and_then(Json::as_str) == Some(address))
        .and_then(|rc| rc.get("change"))
        .and_then(|c| c.get("importing"))
        .and_then(|i| i.get("id"))
        .and_then(Json::as_str);
    if importing_id != Some(id) {
        return Err(format!(
            "the plan does not import {address} with id {id:?}: {change}"
        ));
    }
    if actions != ["no-op"] {
        return Err(format!(
            "importing {address} plans {actions:?} in addition to the import: {change}"
        ));
    }
    Ok(())
}

fn run_expected_error(wd: &mut WorkDir, step: &ConfigStep, pattern: &Regex) -> Result<(), String> {
    let state_before = wd.raw_state();
    let plan = wd
        .run(&["plan", "-input=false", "-no-color", "-json"])
        .map_err(|e| e.to_string())?;
    let failed = if plan.success() {
        if step.error_at_plan {
            return Err(format!(
                "expected the plan to fail with an error matching /{pattern}/, but it succeeded:\n{}",
                plan.stdout
            ));
        }
        let apply = wd
            .run(&[
                "apply",
                "-input=false",
                "-no-color",
                "-json",
                "-auto-approve",
            ])
            .map_err(|e| e.to_string())?;
        if apply.success() {
            return Err(format!(
                "expected an error matching /{pattern}/, but plan and apply succeeded"
            ));
        }
        apply
    } else {
        plan
    };
    let diagnostics = failed.json_diagnostics();
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        return Err(format!(
            "the command failed without an error diagnostic: {}",
            failed.describe()
        ));
    }
    let matched = errors
        .iter()
        .any(|d| pattern.is_match(&format!("{}\n{}", d.summary, d.detail)));
    if !matched {
        return Err(format!(
            "no error diagnostic matches /{pattern}/; got:\n  {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    }
    for check in &step.diagnostics_checks {
        check(&diagnostics, &step.config).map_err(|e| format!("diagnostics check: {e}"))?;
    }
    let panicked = format!("{}{}", failed.stdout, failed.stderr);
    if panicked.contains("panic:") || panicked.contains("plugin crashed") {
        return Err(format!("the provider crashed: {}", failed.describe()));
    }
    if wd.raw_state() != state_before {
        return Err("the failing step changed the state".to_string());
    }
    Ok(())
}

fn join_errors(first: Option<String>, second: String) -> String {
    match first {
        Some(f) => format!("{f}\n{second}"),
        None => second,
    }
}

/// Appends `case<TAB>version<TAB>outcome` to `target/acceptance-report.tsv`,
/// which `scripts/test-all` summarises (which case ran with which CLI).
fn report(case: &str, cli: &TerraformCli, outcome: &str) {
    let Some(dir) = target_debug_dir()
        .parent()
        .map(std::path::Path::to_path_buf)
    else {
        return;
    };
    let path = dir.join("acceptance-report.tsv");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write per line so that parallel tests never interleave (the
        // file is opened for appending). Best effort: the report is
        // informational.
        let line = format!(
            "{case}\t{}\t{}\t{outcome}\n",
            cli.version,
            cli.path.display()
        );
        let _ = file.write_all(line.as_bytes());
    }
}
