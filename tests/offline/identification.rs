//! Identification on the shipped tables with figures an H100 SXM (`NVIDIA H100 80GB HBM3`)
//! and an H200 plausibly measure: the worker's VRAM estimate is exact (34.36 GB for 80 GB
//! boards, 68.72 GB for 141 GB ones: the largest power-of-two fp16 allocation that fits),
//! while the TFLOPS of one cold GEMM spread with clocks, cuBLAS's start-up and the driver.
//! Across that spread each board must come out as itself in every profile, never as its
//! PCIe or NVL sibling or the next generation. (In the v2.2.1 table an H100 SXM measuring
//! below about 405-445 FP16 TFLOPS, 30 % under the table's 570, is taken for the PCIe board:
//! the reference validators rule so too.) (No GPU was at hand here: these are the
//! ranges the figures fall in, not measurements; `benches/gpu-host.sh` measures them.)

use sn27::config::{PogConfig, ScoringConfig, ScoringProfile};
use sn27::pog::identify::{identify, ModelSpec};
use sn27::validator::proof_of_gpu::PogSettings;

/// The table and pairs of `profile` as the validator's test reads them.
fn table(profile: ScoringProfile) -> (Vec<ModelSpec>, Vec<(String, String)>) {
    let settings =
        PogSettings::from_config(&PogConfig::default(), &ScoringConfig::for_profile(profile));
    (settings.models, settings.tolerance_pairs)
}

/// Every (fp16, fp32) on a grid over the given ranges, at `vram`, identifies as `expected`
/// when the driver reports `expected`.
fn identifies_across(
    profile: ScoringProfile,
    expected: &str,
    vram: f64,
    fp16: (f64, f64),
    fp32: (f64, f64),
) {
    let (models, pairs) = table(profile);
    for a in 0..=20 {
        for b in 0..=20 {
            let f16 = fp16.0 + (fp16.1 - fp16.0) * a as f64 / 20.0;
            let f32_ = fp32.0 + (fp32.1 - fp32.0) * b as f64 / 20.0;
            let got = identify(f16, f32_, vram, expected, &models, &pairs);
            assert_eq!(
                got.as_deref(),
                Some(expected),
                "{profile:?}: {f16:.0}/{f32_:.1} TFLOPS, {vram} GB"
            );
        }
    }
}

#[test]
fn an_h100_sxm_identifies_as_itself_across_the_spread_of_its_figures() {
    for profile in [
        ScoringProfile::Default,
        ScoringProfile::Sn27V183,
        ScoringProfile::Sn27V221,
    ] {
        // The tables' own figures (570 and 49.0; 610 and 49.6) are such cold products. The
        // H100 grid spans -15 % to +40 % in FP16 and -10 % to +25 % in FP32 around them;
        // the H200's ±15 % (above that the v2.2.1 table's B200, of the same VRAM, is near).
        identifies_across(
            profile,
            "NVIDIA H100 80GB HBM3",
            34.36,
            (485.0, 800.0),
            (44.0, 61.0),
        );
        identifies_across(profile, "NVIDIA H200", 68.72, (520.0, 700.0), (42.2, 57.0));
    }
}

#[test]
fn an_h100_sxm_reporting_its_name_is_not_taken_for_an_h200_or_a_pcie_board() {
    let (models, pairs) = table(ScoringProfile::Sn27V221);
    // Even at an H200's TFLOPS, 34.36 GB is not 141 GB.
    assert_eq!(
        identify(610.0, 49.6, 34.36, "NVIDIA H100 80GB HBM3", &models, &pairs).as_deref(),
        Some("NVIDIA H100 80GB HBM3")
    );
    // A PCIe board's figures, whatever it reports, are a PCIe board's.
    assert_eq!(
        identify(330.0, 37.2, 34.36, "NVIDIA H100 80GB HBM3", &models, &pairs).as_deref(),
        Some("NVIDIA H100 PCIe")
    );
}
