# `sam build`'s build step for every function (template.yaml: `Metadata: BuildMethod: makefile`;
# samconfig.toml: `build_in_source = true`, so make runs here and cargo uses this workspace's target/).
#
# SAM runs `make build-<LogicalId>` once per function with ARTIFACTS_DIR set. Every one of those
# runs the same `cargo lambda build` of ALL functions, so cargo resolves one feature set for the
# shared dependencies and compiles the workspace once: the first function pays for it, the other
# ten find it fresh (about a second each), and each target then copies its own bootstrap. With
# SAM's `rust-cargolambda` method each function was its own `cargo lambda build --bin X`, and
# `sam build` recompiled the shared crates and re-ran the fat-LTO link per function (issue 19).
#
# The architecture: SAM does not pass the template's `Architecture` to make, so it is this
# variable. Build and deploy with the same value:
#   sam build                                   # arm64 (the template's default)
#   TOLLGATE_ARCH=x86_64 sam build --parameter-overrides Architecture=x86_64
# scripts/release.sh passes it for you and checks each artefact's ELF machine against the template.
#
# `make list` prints the LogicalId -> binary map; scripts/releaselib/plan.py checks it against
# template.yaml's `BuildProperties: Binary` (which the sandbox reads).

TOLLGATE_ARCH ?= arm64
ifeq ($(TOLLGATE_ARCH),arm64)
TRIPLE := aarch64-unknown-linux-gnu
else ifeq ($(TOLLGATE_ARCH),x86_64)
TRIPLE := x86_64-unknown-linux-gnu
else
$(error TOLLGATE_ARCH must be arm64 or x86_64, not "$(TOLLGATE_ARCH)")
endif

# cargo-lambda from PATH, else the pinned one scripts/tools.sh installs.
CARGO_LAMBDA ?= $(or $(shell command -v cargo-lambda 2>/dev/null),$(wildcard $(CURDIR)/.tools/sandbox/bin/cargo-lambda))
ifeq ($(CARGO_LAMBDA),)
$(error cargo-lambda not found: run scripts/tools.sh (it installs the pinned one into .tools/) or pip install cargo-lambda)
endif

# LogicalId -> binary, one line each (the order of template.yaml).
FUNCTIONS := \
  HealthGateFunction=health-gate \
  DriftGateFunction=drift-gate \
  DriftCallbackFunction=drift-callback \
  JobDeadLetterFunction=job-dead-letter \
  ApprovalMailerFunction=approval-mailer \
  ApprovalApiFunction=approval-api \
  BranchPipelinesFunction=branch-pipelines \
  DoraDeploymentFrequencyFunction=dora-deployment-frequency \
  DoraLeadTimeFunction=dora-lead-time \
  DoraChangeFailureRateFunction=dora-change-failure-rate \
  DoraTimeToRestoreFunction=dora-time-to-restore

BINARIES := $(foreach f,$(FUNCTIONS),$(word 2,$(subst =, ,$(f))))
binary_of = $(word 2,$(subst =, ,$(filter $(1)=%,$(FUNCTIONS))))

.PHONY: compile list

# The one build. `--target` (not `--arm64`) so that both architectures read the same; the
# profile (fat LTO, opt-level "s", strip) is Cargo.toml's [profile.release].
compile:
	$(CARGO_LAMBDA) lambda build --release --target $(TRIPLE) $(addprefix --bin ,$(BINARIES))

build-%: compile
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	@test -n "$(call binary_of,$*)" || { echo "no binary for $* in the Makefile's FUNCTIONS" >&2; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)"
	cp "$(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/lambda/$(call binary_of,$*)/bootstrap" "$(ARTIFACTS_DIR)/bootstrap"

list:
	@$(foreach f,$(FUNCTIONS),echo "$(f)";)
