"""Turn a validated protocol file into the pure domain value objects."""

from __future__ import annotations

from app.protocols.domain import (
    AlarmRule,
    AlarmSettings,
    Checkpoint,
    CheckpointAnchor,
    Comparator,
    CourseRules,
    DischargeAdvice,
    DischargeCriteria,
    DosingRules,
    EscalationSettings,
    GateOutcome,
    Metric,
    OutcomeDefinitions,
    Phase,
    Preparation,
    PreparationMode,
    PreSessionGate,
    PreSessionRules,
    Priority,
    ProtocolDefinition,
    TechnicalAlarmSettings,
    TitrationRules,
    WeightBasis,
)
from app.protocols.file_schema.sections import (
    Alarms,
    Discharge,
    ProtocolFile,
)
from app.screening.domain import (
    DataWindows,
    HepaticImpairment,
    RuleId,
    ScreeningLimits,
    ScreeningRules,
    Severity,
)


def _phases(names: list[str]) -> frozenset[Phase]:
    return frozenset(Phase(name) for name in names)


def _alarms(alarms: Alarms) -> AlarmSettings:
    tech, esc = alarms.technical, alarms.escalation
    return AlarmSettings(
        rules=tuple(
            AlarmRule(
                id=rule.id,
                phases=_phases(list(rule.phases)),
                metric=Metric(rule.metric),
                comparator=Comparator(rule.comparator),
                priority=Priority(rule.priority),
                onset_delay_s=rule.onset_delay_s,
                hysteresis_margin=float(rule.hysteresis_margin),
                clear_time_s=rule.clear_time_s,
                latching=rule.latching,
                action=rule.action,
                limit=None if rule.limit is None else float(rule.limit),
                baseline_offset=None
                if rule.baseline_offset is None
                else float(rule.baseline_offset),
                max_gap_s=rule.max_gap_s,
            )
            for rule in alarms.rules
        ),
        heart_rate_sources=tuple(Metric(m) for m in alarms.heart_rate_sources),
        technical=TechnicalAlarmSettings(
            no_data_metrics=frozenset(Metric(m) for m in tech.no_data_metrics),
            no_data_medium_s=tech.no_data_medium_s,
            no_data_high_s=tech.no_data_high_s,
            nibp_overdue_grace_s=tech.nibp_overdue_grace_s,
            device_silent_s=tech.device_silent_s,
            device_offline_priority=Priority(tech.device_offline_priority),
            clock_skew_limit_s=tech.clock_skew_limit_s,
            clock_skew_priority=Priority(tech.clock_skew_priority),
            no_board_priority=Priority(tech.no_board_priority),
        ),
        escalation=EscalationSettings(
            high_unacknowledged_s=esc.high_unacknowledged_s,
            medium_unacknowledged_s=esc.medium_unacknowledged_s,
            silence_s=esc.silence_s,
            reannunciate_after_ack_s=esc.reannunciate_after_ack_s,
        ),
    )


def _discharge(discharge: Discharge, min_observation_minutes: int) -> DischargeCriteria:
    advice = discharge.advice
    return DischargeCriteria(
        min_observation_minutes=min_observation_minutes,
        aldrete_modified_min=discharge.aldrete_modified_min,
        spo2_min_pct=float(discharge.spo2_min_pct),
        bp_within_pct_of_baseline=float(discharge.bp_within_pct_of_baseline),
        bp_below_medium_alarm_limits=discharge.bp_below_medium_alarm_limits,
        cadss_at_or_below_pre=discharge.cadss_at_or_below_pre,
        escort_required=discharge.escort_required,
        physician_evaluation_required=discharge.physician_evaluation_required,
        alarms_cleared_required=discharge.alarms_cleared_required,
        advice=DischargeAdvice(
            no_driving_until=advice.no_driving_until,
            no_alcohol_hours=advice.no_alcohol_hours,
            avoid_benzodiazepine_opioid_hours=advice.avoid_benzodiazepine_opioid_hours,
            no_important_decisions_hours=advice.no_important_decisions_hours,
        ),
    )


def to_screening_rules(file: ProtocolFile) -> ScreeningRules:
    """Build the screening rules engine's input from `[screening]` and the plausible weights."""
    screening = file.screening
    rules = screening.rules
    severities = {rule_id: Severity(getattr(rules, rule_id.value).severity) for rule_id in RuleId}
    windows = screening.data_windows
    return ScreeningRules(
        severities=severities,
        limits=ScreeningLimits(
            min_age_years=rules.under_minimum_age.min_age_years,
            bp_severe_sbp_above_mmhg=float(rules.resting_bp_severe.sbp_above_mmhg),
            bp_severe_dbp_above_mmhg=float(rules.resting_bp_severe.dbp_above_mmhg),
            bp_elevated_sbp_above_mmhg=float(rules.resting_bp_elevated.sbp_above_mmhg),
            bp_elevated_dbp_above_mmhg=float(rules.resting_bp_elevated.dbp_above_mmhg),
            hr_below_bpm=float(rules.resting_hr_out_of_range.below_bpm),
            hr_above_bpm=float(rules.resting_hr_out_of_range.above_bpm),
            spo2_below_pct=float(rules.resting_spo2_low.below_pct),
            benzodiazepine_max_diazepam_eq_mg_per_day=(
                rules.benzodiazepine_dose.max_diazepam_equivalent_mg_per_day
            ),
            liver_enzyme_max_times_uln=rules.liver_enzymes_raised.max_times_upper_limit,
            hepatic_impairment_flag_from=HepaticImpairment(rules.hepatic_impairment.flag_from),
            min_failed_antidepressant_trials=rules.treatment_resistance_unconfirmed.min_failed_trials,
            weight_min_kg=file.infusion.plausible_weight_min_kg,
            weight_max_kg=file.infusion.plausible_weight_max_kg,
        ),
        windows=DataWindows(
            resting_vitals_max_age_days=windows.resting_vitals_max_age_days,
            liver_tests_max_age_days=windows.liver_tests_max_age_days,
            weight_max_age_days=windows.weight_max_age_days,
        ),
        validity_days=screening.validity_days,
    )


def to_protocol_definition(file: ProtocolFile) -> ProtocolDefinition:
    """Convert a validated protocol file into a `ProtocolDefinition` of pure value objects."""
    inf, prep, tit = file.infusion, file.preparation, file.titration
    course, pre, scales = file.course, file.pre_session, file.scales
    return ProtocolDefinition(
        protocol_id=file.protocol.id,
        version=file.protocol.version,
        name=file.protocol.name,
        dosing=DosingRules(
            mg_per_kg=inf.mg_per_kg,
            minutes=inf.minutes,
            minutes_min=inf.minutes_min,
            minutes_max=inf.minutes_max,
            mg_per_kg_max=tit.physician_max_mg_per_kg,
            weight_basis=WeightBasis(inf.weight_basis),
            weight_window_days=inf.weight_window_days,
            weight_min_kg=inf.plausible_weight_min_kg,
            weight_max_kg=inf.plausible_weight_max_kg,
            warning_weight_kg=inf.warning_weight_kg,
            max_dose_mg=inf.max_dose_mg,
            preparation=Preparation(
                mode=PreparationMode(prep.mode),
                bag_volume_ml=prep.bag_volume_ml,
                concentration_mg_per_ml=prep.concentration_mg_per_ml,
            ),
        ),
        titration=TitrationRules(
            steps_mg_per_kg=tuple(tit.steps_mg_per_kg),
            step_up_after_infusions=tit.step_up_after_infusions,
            step_up_if_improvement_below_pct=tit.step_up_if_improvement_below_pct,
            step_up_blocked_if_cadss_ge=tit.step_up_blocked_if_cadss_ge,
            step_down_mg_per_kg=tit.step_down_mg_per_kg,
            min_mg_per_kg=tit.min_mg_per_kg,
            physician_max_mg_per_kg=tit.physician_max_mg_per_kg,
            rate_reduction_factor=tit.rate_reduction_factor,
        ),
        course=CourseRules(
            induction_infusions=course.induction_infusions,
            induction_weeks=course.induction_weeks,
            min_hours_between_infusions=course.min_hours_between_infusions,
            futility_review_after_infusions=course.futility_review_after_infusions,
            maintenance_max_months=course.maintenance_max_months,
        ),
        pre_session=PreSessionRules(
            gates=tuple(
                PreSessionGate(
                    id=gate.id,
                    metric=Metric(gate.metric),
                    comparator=Comparator(gate.comparator),
                    limit=float(gate.limit),
                    outcome=GateOutcome(gate.outcome),
                    message=gate.message,
                )
                for gate in pre.gates
            ),
            repeat_after_minutes=pre.repeat_after_minutes,
            fasting_solids_hours=pre.fasting_solids_hours,
            fasting_clear_fluids_hours=pre.fasting_clear_fluids_hours,
            checklist=tuple(pre.checklist),
        ),
        checkpoints=tuple(
            Checkpoint(
                id=cp.id,
                item=cp.item,
                grace_minutes=cp.grace_minutes,
                phases=_phases(list(cp.phases)),
                interval_minutes=cp.interval_minutes,
                anchor=None if cp.anchor is None else CheckpointAnchor(cp.anchor),
                offset_minutes=cp.offset_minutes,
            )
            for cp in file.checkpoints
        ),
        alarms=_alarms(file.alarms),
        discharge=_discharge(file.discharge, file.recovery.min_observation_minutes),
        outcomes=OutcomeDefinitions(
            primary_scale=scales.primary,
            self_report_scale=scales.self_report,
            schedule=tuple(scales.schedule),
            response_improvement_pct=scales.response_improvement_pct,
            remission_madrs_max=scales.remission_madrs_max,
            remission_phq9_below=scales.remission_phq9_below,
            mania_ymrs_flag_above=scales.mania_ymrs_flag_above,
        ),
        screening=to_screening_rules(file),
    )
