"""Training fingerprints and weights' metadata are unchanged by the typed configuration.

A fingerprint names the checkpoints a training step resumes and the metadata of the weights it writes are part
of the DVC outputs, so for the same parameter file they must stay exactly what they were before the parameters
became typed objects with the schema's defaults filled in. EXPECTED holds the values the code computed before
that change (commit 126236a), for every model, post-hoc DAE split point, GAN and DDDM run of the presets, with
a data id per model and made-up image formats; the test computes them the way the training steps do. The paper
preset's CIFAR-10/CelebA models and DDDM runs were re-recorded when its departures from the texts were fixed
(issue 16: dropout 0.3, CelebA T' = 890, the DDDM's cross-attention conditioning), and nothing else moved; its
DDDM runs for Table 1's other rows, Table 3's sweep and Fig 2b's c sweep were added then, and its improved-DDPM
CIFAR-10 and ImageNet-64 DDGMs (Table 2's sources, Fig 6b) and the ImageNet-64 joint DAED (Table 4's "DAED (IN)")
later, recorded when they were added, as was the tiny preset's second joint DAED (the DAE of its composed DAED),
and the class-conditional DDDM runs (the paper preset's ImageNet 64 runs of Table 2, the tiny preset's dddm_cond).
``meta:``/``ganmeta:``/``dddmmeta:`` are SHA-256 of the metadata strings a weights file records about its section.
"""

import hashlib

import pytest

from diffrepro.artifacts import dddm as dddm_artifacts
from diffrepro.artifacts import ddgm as ddgm_artifacts
from diffrepro.artifacts import gan as gan_artifacts
from diffrepro.config import dddm_run, load_config, model_config, posthoc_splits
from diffrepro.perf.workloads import DATASET_INFO
from diffrepro.posthoc import split_of
from diffrepro.training.dae import dae_fingerprint, dae_hyper
from diffrepro.training.dddm import dddm_fingerprint
from diffrepro.training.ddgm import training_fingerprint
from diffrepro.training.gan import gan_fingerprint

PRESETS = ["params.yaml", "configs/tiny.yaml", "configs/small.yaml", "configs/paper.yaml", "configs/coursework.yaml"]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprints(path) -> dict[str, str]:
    """Every fingerprint and recorded section of the parameter file ``path``, computed as the steps do."""
    config = load_config(path)
    seed, out = config["seed"], {}
    for name in config["models"]:
        mcfg = model_config(config, name)  # as train-ddgm passes it
        out[f"train:{name}"] = training_fingerprint(mcfg, seed=seed, data_id=f"data-{name}")
        meta = ddgm_artifacts.weights_metadata(name, mcfg, {"dataset": "d"}, 8, 1, 5, 7)
        out[f"meta:{name}"] = _sha(meta["config"])
    post = config["daed"]["posthoc"]  # as train-dae passes them
    generator = model_config(config, next(iter(post["studies"].values()))["generator"])
    for label in posthoc_splits(config):
        _, s = split_of(config, label, generator)
        out[f"dae:{label}"] = dae_fingerprint(
            generator, split_step=s, hyper=dae_hyper(post["train"]), seed=seed, data_id="data-dae", ddgm_hash="0" * 64
        )
    for name, gcfg in config["gans"].items():  # as train-gan passes it
        out[f"gan:{name}"] = gan_fingerprint(gcfg, seed=seed, data_id=f"data-{name}", image_shape=(100, 3, 32, 32))
        out[f"ganmeta:{name}"] = _sha(gan_artifacts.weights_metadata(name, gcfg, {}, 32, 3, 5, 7)["config"])
    for run in config["dddm"]["runs"]:  # as train-dddm passes them (a conditional run: its data set's classes)
        dddm, run_cfg = dddm_run(config, run)
        classes = (
            DATASET_INFO[config["datasets"][run_cfg.data]["dataset"]]["classes"] if run_cfg.class_conditional else 0
        )
        out[f"dddm:{run}"] = dddm_fingerprint(dddm, run_cfg, seed=seed, data_id=f"data-{run}", num_classes=classes)
        meta = dddm_artifacts.weights_metadata(run, dddm, run_cfg, {}, 32, 3, 5, 7, True, 9, classes)
        out[f"dddmmeta:{run}"] = _sha(
            meta["config"] + "|" + meta["train"] + "|" + meta["metric"] + (f"|{classes}" if classes else "")
        )
    dddm, main = dddm_run(config, config["dddm"]["main"])
    out["dddm-unreportable"] = dddm_fingerprint(dddm, main, seed=seed, data_id="x", reportable=False)
    return out


@pytest.mark.parametrize("preset", PRESETS)
def test_fingerprints_and_metadata_are_the_recorded_ones(repo, preset):
    got = fingerprints(repo / preset)
    expected = EXPECTED[preset]
    assert sorted(got) == sorted(expected)  # every model, split point, GAN and run of the preset
    assert {k: v for k, v in got.items() if v != expected[k]} == {}


def test_a_dddm_unet_that_states_its_defaults_is_the_same_network(tiny_config):
    """The DDDM's fingerprint and metadata take ``dddm.unet`` without the keys at their default: stating one
    changes neither (and the weights check compares the filled-in settings)."""
    import copy

    from diffrepro.config import with_defaults

    base = with_defaults(tiny_config)
    stated = copy.deepcopy(tiny_config)
    stated["dddm"]["unet"].update(block="resnet", time_conditioning="scale_shift", architecture=None)
    stated = with_defaults(stated)
    run = base["dddm"]["main"]
    fp = [dddm_fingerprint(c["dddm"], c["dddm"]["runs"][run], seed=0, data_id="x") for c in (base, stated)]
    assert fp[0] == fp[1]
    assert dddm_artifacts.network_config(base["dddm"]) == dddm_artifacts.network_config(stated["dddm"])
    other = copy.deepcopy(base)
    other["dddm"]["unet"]["block"] = "mbconv"
    assert dddm_fingerprint(other["dddm"], other["dddm"]["runs"][run], seed=0, data_id="x") != fp[0]


EXPECTED = {
    # re-recorded for changed parameters (issue 14): the joint DAEDs' timestep_sampler.denoiser_share and the DDGM
    # VLB models' timestep sampler (uniform, as Deja et al.; here and in the paper preset); every other value is the
    # one recorded at 126236a
    "params.yaml": {
        "dae:0.001": "e77d75c855aef9aa34edac2eebb6517635cac378d813d5abc987deb1aee84741",
        "dae:0.025": "b8d9b94003b56aaa8fd8812e710e68f0aed753c11c91eb2be73f36993ab8ec06",
        "dae:0.1": "415d3462b96bbe369114e2e5de2cdd931093c41a6b851a73e99ebf1cb08168ac",
        "dae:0.2": "0fb5eb493ab810b8d2bef290022a85c6523f15cc505d213a26a9139fb9b2e86f",
        "dae:0.3": "4f99c0470a58d89c70a21f53d119896d6b273f6503dd8c5347e7271fb92f34fd",
        "dae:linear": "34e7845ee93f8df6c101c65946f7e6c1ffd2697ca768d51318ffa0db7ac2a054",
        "dddm-unreportable": "c934ab3b72272ef0b05ff7ac1f1d8852a5d663e72a1a8a6710a2c5355a818ff7",
        "dddm:dddm_l1": "bc6e440d81108cf4d9dfc787bab1d5ebc8fe10ac2923a678695e757c4dd206bf",
        "dddm:dddm_phuber": "1b78837b1ddd2f413d158afb10f48396c3bb14e12b4c5cd8c0ceab5a0f1ba676",
        "dddm:dddm_phuber_c1": "bbb8b958f10703a6a5df71fc71ddf742d0be8e054309471f408ddf90972e93b6",
        "dddmmeta:dddm_l1": "e3815e3baaa83d86660e56abd8206da35bdcbb91071f3fa430433af69d1177bf",
        "dddmmeta:dddm_phuber": "fda94025ecf60ea4276fe1d97352b388beb47521a9020c91332f4a76785717bd",
        "dddmmeta:dddm_phuber_c1": "d7a97f20e6071db7d37b02424f88b323b6d9b4b0c745d76172f662075c7a7ee9",
        "gan:sngan": "a09afcef991c87eebb658b9633b647142aebc7bd21b1363b3bf5cd1bcc5c9d71",
        "ganmeta:sngan": "bc51689731788671b02f538432b22a4b35e16734b6327cdf4ba403d669777d28",
        "meta:daed_simple": "b567f25ad1c84f2dc2c70242f0c23b5f776803ee1ec0433bd1173b78d6f93a22",
        "meta:daed_vlb": "a5b01f719a7aba0474e3489e831898666925244086aa5c1c89b34352ca529924",
        "meta:ddgm_simple": "cf5648f4e3e203b3a4778ee5d0458cbfd3ffaa505d48349ebb8843eacd81c492",
        "meta:ddgm_simple_deep": "09a4aaeb56f462bea1199e44d1bff7f7f41511c39e5fab86fa185e6e1603cf56",
        "meta:ddgm_simple_is": "dcfb53826d515f3443b39dbf2b0129f0a33817e5a9db5edafcb4608455cc76b6",
        "meta:ddgm_simple_wide": "33668b923bb9c92e54e89bc4d6feb821ef1aa606e1956bc2a586f253115bc042",
        "meta:ddgm_vlb": "6084d4e6f90580752952c6c2a043856b0e4e9079982cc31fbf2da639fea5b800",
        "train:daed_simple": "47626e5c6687105ba7833c909c0c6fc547c5cbe57f47629095cce456f82b8623",
        "train:daed_vlb": "04348906bc6945f47231c6b0ce3e90680b83666e5ba3f22e60f857ba66d8d1c9",
        "train:ddgm_simple": "ca2296925c34d3e9f0fb16e7043ac35e6c6bff3b90bf3450339b1a0462483946",
        "train:ddgm_simple_deep": "716f2fcf107fb92492c01cdf9826effd38b184dcfb2b7263896598ecebd69ecb",
        "train:ddgm_simple_is": "6d3e1204dd92640fbb16643e2e62a8fc5c0284e096b61aefb1381a312f95a04c",
        "train:ddgm_simple_wide": "92e80b6aa394bac4494e77cf214f33385c94f0f61b5825107b50b4212d5f0e7b",
        "train:ddgm_vlb": "d133c85319760ad11be3d134d453b57e3f5cea22b662afc4ddd240e6258f82e4",
    },
    "configs/tiny.yaml": {
        "dddm:dddm_cond": "e8cf77daf801c8456a4b0d38056063d8e503ec0074b9f7b49bfa8d92a95c8ae1",
        "dddmmeta:dddm_cond": "5bc6af857373710b3fa4e3746c1c7a3147714882334e92cc02e90eacb5ba6471",
        "dae:0.1": "048fbc82ae183ac231981179f578655dd580631bc7528fdd091dcac41a30c340",
        "dae:linear": "84b1f663db2b7a038416c6f68d7a24b9971c499b873b2cfa56f47c25eb449d52",
        "dddm-unreportable": "d998d35d19610a5df311e7dd40449cb36e1f78354f5b7b3aae5ad91ac4400e20",
        "dddm:dddm_l1": "a87328cec75f772d04e20e1dcf6909068815333e5adf73bb28456739b40bc1a7",
        "dddm:dddm_phuber": "8abffe3de594fb8d1a38a3d960bbbe8b3eeb2ce72ffcafad5968eba7dd608e03",
        "dddmmeta:dddm_l1": "93a4e0286b0649d47824e4c55a534b32af19c282c9a7923fd9c505011e7cb113",
        "dddmmeta:dddm_phuber": "4e72a5f6bbbf798f5241785ab6e17f26a392488d2f9577b6ac0c537057486655",
        "gan:sngan": "e3e425e2ab45c6a8b57a7d1593535158bd31b48c85a159d656db4bfecc14b6d1",
        "ganmeta:sngan": "1d2cb4a22c40647918f1ada4f197396f6dfabf70ae912aaa17123c0ab9032d1a",
        "meta:daed_combine": "544e1f4147f9522f5dbe727c2d63e38f9c2f5ea2c03c7a70c1b61d683e99c258",
        "meta:daed_combine_b": "2976b2cdc36ea21b61e4ca8b053696a8c79d17037afd4d91fb81a8a975874069",
        "meta:ddgm_a": "7118f71b5b17cc1ba168370c0e27ac67c4cde71872dbc7ad061fff19d0991753",
        "meta:ddgm_b": "90f5c058b658f52f04bcf8d34b9c6c4dfe695785b041832cee3b9b6609f20b90",
        "meta:ddgm_half": "4299c8ff4e602bd28145d037d85c4e64c34b76dc8c3922a5644455f481362afb",
        "meta:ddgm_hybrid": "15ec54c041e48163702d5ab15a16b523a322feecc465b0a9fb58c03ad672284c",
        "meta:ddgm_iwdiff": "9f6d367483b19fe3c6d03c151f5dd7f424f45b0f38b4cb5fb1a131c9c7755966",
        "meta:ddgm_mbconv": "a7367bb9f434766140778e05a8484460b51d930b661a66090239145a80eff23f",
        "meta:ddgm_t100": "8448e2674cb557aab9608466f5477c838b3d3fb8a95b2a7cecc035236a2de635",
        "meta:ddgm_vlb": "db306b20a2f9b21f4e3cfc6c4c6f6e404592966af14492674c595ab003cfd7a2",
        "train:daed_combine": "89d5ab66061a8f0327f1a51bfa671b911eacab3c255decd7a01a46a8711dd9a6",
        "train:daed_combine_b": "7f54960b13b6fc54a777ba0d68affad9bed50652348d729d7130bb6e0f0cc6d7",
        "train:ddgm_a": "b6597f6a0feee7c4d03cbfabc3dcd80ab5825178d5bccbb15b13439e72b5a369",
        "train:ddgm_b": "c514547c6828e9277621316a94759fa56761b0d2dfeb1a1eae1f1685c5031b13",
        "train:ddgm_half": "2759961cc3279a42f507fafff58da453e6c56289d5e4c16f54c7ad99c5a5b3f9",
        "train:ddgm_hybrid": "91003eea71c9278ccbf84971aeed4cdc94ea99bd0924efce8650e0f5a7ae2a14",
        "train:ddgm_iwdiff": "7081b35ffe3c223fb69f5baefdaac6e0ad549baa807cb94ff3780e9f1a9c8600",
        "train:ddgm_mbconv": "d160abb20648b1e42f2eeb473024dc4bf9f980b99244562a96c3da0991dea771",
        "train:ddgm_t100": "6a9d3d4603c380d76f8cd714deeabb409e0c0333b7c44e32f8738873ecf2e2f6",
        "train:ddgm_vlb": "2272751159dd4b65fb7cedc8af5ef04fe3c50f399d2af538b0058a87618eaa4a",
    },
    "configs/paper.yaml": {
        "dddm:dddm_in64": "40584669136028986ef9b946419ec0cedb64e34c3af4e643592a5debf84befa5",
        "dddmmeta:dddm_in64": "e4b58323a62f19afce68e63d3c4fbc8b0adcd65132a2e8e563558776010bafa0",
        "dddm:dddm_in64_deep": "3dd5168ace01c131d5449b258442f1f5decddf4b3f79f0ab40197e85248da899",
        "dddmmeta:dddm_in64_deep": "e9aa205081e11e273d366255a52bb06558b636f7dc935c1c458e1192951d71cf",
        "dae:0.001": "fd46f8240c5286c5a8b2526b38611290dcb47fa54c84c276e694270faa9c2a80",
        "dae:0.025": "7dbc39665d1eafe90d33cf4cdaf45218b42feb2ff4255699fca1169b5ed55917",
        "dae:0.1": "6a5f036ebbd9c4d419078a21ff520f3d1298d2db5fd28e5efa2e78e5da445e92",
        "dae:0.2": "46cdd507c9f62cb4075c4e7ff1e2649dcf06e54885b448ba5d51f4ea694a20b8",
        "dae:0.3": "a6cb6d1dde71a3d18024f0e55ee6ecd509aed37c4c17fea7db99dfc2244626b2",
        "dae:linear": "2cb9885ddb1ed101089cf5e490b0a6deffe0e118c85b06e9670ea07533002483",
        "dddm-unreportable": "0ac95bb539eb2f26054ad342343576c24270cb8c7639b2cf84fd8c8286dca4a4",
        "dddm:dddm_l1": "e1f122b9575d7401731f93ddb19e9e3ae06a7d57c4c1490fae5f3fc426066396",
        "dddm:dddm_l2": "fc3a80821d512a60905ee6df5b6abe7689b1e30585775b7196435fc1945257b0",
        "dddm:dddm_lpips": "f17e1182b43d71e591938abe9815794a8ded97718dd62bddafa4e1920b0c2d1b",
        "dddm:dddm_phuber": "b90220c810727aaa6758fb4c83dee6827f75b96dab4a9dda7b784ac21958722c",
        "dddm:dddm_pseudo_lpips": "acfbf4ec967982104ddee430d67a79c58926fcf4e568afbb80581dc7007d34cb",
        "dddmmeta:dddm_l1": "d62e57c462d247d8b98de569c447cc7f7041cd49c411119b41922902a27b9031",
        "dddmmeta:dddm_l2": "3e3deb3ba7d38d685db7d19d6753d7215dbeda6332aa5777f2790a74daafdbfe",
        "dddmmeta:dddm_lpips": "4204d1af2f237ca5b9d99e0db5cf5a9ec5c3ba266aad6c13cf83e4070af93a01",
        "dddmmeta:dddm_phuber": "211d8308021b5b0939282b4100c35afae47dffca2b0795b073a62f578b069180",
        "dddmmeta:dddm_pseudo_lpips": "e80d78f9e9dcb7507d5abc739bc804a2caf2d67bebff12131b194865911fc77d",
        "gan:sngan": "c787b4cb8e632631912ee23cfa6f2d95347a9f83caa7ed150297fc4f063fc900",
        "ganmeta:sngan": "4d8d18e17f443ceecb1a8cee7f8c01f34ee587d52f64de675c4bc7161a555f25",
        "meta:c10_daed_simple_b0001": "032e7e31a55e376514a3239de698b74da952ee24839dd1a9ad63363356bcf011",
        "meta:c10_daed_simple_b0025": "144116137c421b804584a0733dd5ea0144061c3be68f271c7cd94e2651e4ab9b",
        "meta:c10_daed_simple_b01": "ad78a1e34c084e90fb5b42197d4aee22eccbdbf1b90d6861e3b34d75b84cb0ed",
        "meta:c10_daed_simple_b02": "e9a1b4acd2c88d9e157d9a84656a84e81ace1b2827d52bce708a493d30be3ba4",
        "meta:c10_daed_vlb_b0025": "70d3a9cf2360e2fe8ef2cfd30c76362348943f539392457cf2a73739c3965b8d",
        "meta:c10_daed_vlb_b01": "d6878ea41e70de6016d1fbf89ad4d063e5c0d6762657c25fc34399552550e351",
        "meta:c10_daed_vlb_linear": "3fb95380b97493d7828e4db398ba85cb88776b73173873dc89e8bc5debd8e3e0",
        "meta:c10_ddgm_simple": "6de4993c9b640d11c002aa9667e666a3822bc777e982aac64295a53335458300",
        "meta:c10_ddgm_vlb": "45d61a7532bbf575a7a13a979f070f1ffa3655a93dd06b7053af94340af0631d",
        "meta:c10_iddpm_simple": "9f4976e825e48050fe399423a5b0bc1a3b82b5357f4d4b8cba5785476b7d15c0",
        "meta:c10_iddpm_vlb": "e1034c6dd363620541e745a816d303ad75eefde925c338413b1adbfabd275201",
        "meta:in64_iddpm_simple": "2debd9280359b3d647ce2e57f219c705c9681aa41d58ad4d543439ab235cd217",
        "meta:in64_daed_simple_b01": "a0ee7262141421838a2bd77cd84f2bff224d9d05a7bde2d40581c7e4bf5ac12b",
        "meta:in64_iddpm_vlb": "76f28f064f130e98c6edb4791cd23361c0812ab549c503e5874ad722ab1f2167",
        "meta:celeba_daed_simple_b0001": "d6d56d4486bcfca0dfdae8205acf8fd79a5f603bbbaffda94d4a64da312ff10d",
        "meta:celeba_daed_simple_b0025": "9ef104939e871121a5f4a3f2229cfdded355ab62dfca463197035c39edfc05e7",
        "meta:celeba_daed_simple_b01": "b4ed624941561d329b8cdbafae945ab36820ef291fa25c9b67991358164516ce",
        "meta:celeba_daed_simple_b02": "022e0bfd05f9ddebfa943e48cea899ba38006e39812e37bc5f7f8c3c21802632",
        "meta:celeba_daed_vlb_b0025": "46fe521f4b35088ef50b898d379e7f8f4f653eed09df841d505d2fe13297c7c8",
        "meta:celeba_daed_vlb_b01": "e8859dcbe92edbb3cb4ad63166534416aebf95774925567d136120ad8e5fd212",
        "meta:celeba_daed_vlb_linear": "61a5cc4eca2ed20ce8942790e29c69a9172cd9dbb1f843d62c300c7279d14791",
        "meta:celeba_ddgm_simple": "ff945788e5e005143a913b66f49c65c693c3cdd32a967144698c52d27063227f",
        "meta:celeba_ddgm_vlb": "fc17fde5265a60d5b1a17f19c68c0195bb63f996a1f378c2a886d9ca9f4e52c4",
        "meta:cw_daed": "36ca2b33e008bd2f710f94b81736f1d021507dc834b703160c189becdbdf3da6",
        "meta:cw_ddgm_half": "9940dd171785b07d45e3066f4f2e334914d26a1a1bcb7e14943c0891cd6a73e6",
        "meta:cw_deepres1": "f56ea145bfa7fdbdcd8191702baa91f5cbb1fa09f669d4e0af72e1562994b03e",
        "meta:cw_default": "8ef362993553dc3ebd7cd04a90282823825d1db961cbc8dc75f35f3c9cace640",
        "meta:cw_is": "9f9c4159f50092f1a9152d7b1ba1264c1c5a0a40eacafae851686f3374f19bff",
        "meta:cw_is2": "2f5debc57f41b2081f4ac978131bd8c7b93c36f07d71b0d1283668b60ddc29e1",
        "meta:cw_iwdiff": "88a575e43e8402fa2dfd631d51548b6da8d8a83a252f6c485dd47566c55f0c19",
        "meta:cw_iwdiff_is": "71c00849ff74d1f13e948b8dc583e30b08d627035ddfc5f4d2a41267617704fc",
        "meta:cw_mbconv64": "ce88f1b9d48f1d4d4d22d29594d52aa5ffb142262bc227d8426b263c64c488d4",
        "meta:cw_mbconv96": "6ff5463d966eb3475840d392d692d5b6cf552b56d42a2c4ba95bf69d0cb9ca23",
        "meta:cw_shallowres1": "78bf273c7b59bd01b6cc5c97b83d9c477d42f82335feefc7e532000a113cb4e8",
        "meta:cw_shallowres2": "3bcf9d3c62dd750920271ce1789e16256d0b879273b9df2c9a30f28d7aa0e472",
        "meta:cw_t100": "538d44425ac706ebf3cb7b629a166c89bc9dc1c66a0d79be3d658e7e53f6a568",
        "meta:daed_simple_b0001": "62c26dc5f0f48c3c058b1035a690eef02e66753994c404f14eff4927989d76f4",
        "meta:daed_simple_b0025": "16bac16b87d4e13e7f7ad5e15dd6f30e207bfc0288fc710acd7c0b0919267389",
        "meta:daed_simple_b01": "c1628a7b67d54118bddacf48c719d00fdc70ba68de3791fc7d65419237ad3d47",
        "meta:daed_simple_b02": "26250d1cc5dc1c9f7a0bc00f577cb53072fd86ace4e5238c5a34817e16ef93a4",
        "meta:daed_simple_b03": "add68e415c64f0ad30cdc116c1b196294a0e3678c56f5cf6a6bf95a566fd2601",
        "meta:daed_vlb_b0025": "36f9e8675e95baa1dc74b59b0c9dfade4e3f3db30efc6cf98a17088c03e260cd",
        "meta:daed_vlb_b01": "9c6813eaabe45b7ae790f89761dc08f51c10b7bece11c6c65ba29cbacdefff47",
        "meta:daed_vlb_linear": "8c37dd987ef240f398878038e395f7d3cd59243aced88f86075d5641986d4c13",
        "meta:ddgm_simple": "91d77104dac558b638aefd268eabd9d431bb59cc039672095a5e34e3c9182367",
        "meta:ddgm_simple_deep": "608d2ee5c9df4a414e2dcf32baa2c22eb43a0b0997c787e92e910b1991459275",
        "meta:ddgm_simple_wide": "92187006fbd2ef562834be7db6d42732d06a15ebeaff389e7cf3806ddd44ea42",
        "meta:ddgm_vlb": "132d2a2528e2bf14ff79a2c13a89efde383679c16defdba7abf8f04ef1bfb0bf",
        "train:c10_daed_simple_b0001": "660dfb0ad7e52e200378e01ddaf8e7f7b8a74a8a214d6f201d3e901da6fcf2cc",
        "train:c10_daed_simple_b0025": "d3e30479f02c99fc62d358855cbc3cf13aee8817398f919df459080534c2b09a",
        "train:c10_daed_simple_b01": "e86016588b9552887ab7d4886bd547da9ce66ed66113510762b28de9a747509e",
        "train:c10_daed_simple_b02": "bea132fbd2fffd68c21c9fbaad5d296786d427fca248c9f271065533bf305dee",
        "train:c10_daed_vlb_b0025": "e0aff367d4b48962911270d8640ed983545673830c8b05c0affccd6caae015b4",
        "train:c10_daed_vlb_b01": "56ac4374d1b189a048657f345216509a76da1669f9811101ae8f76de50b13335",
        "train:c10_daed_vlb_linear": "e1d13eeef70e505c9cff3b1849db13b5f89683aba76638be12aaee1223f59f82",
        "train:c10_ddgm_simple": "6505dd997f26efbd345e16063b238423d245b9c75dcb5f2e8dcdd4e962dfb1f6",
        "train:c10_ddgm_vlb": "29150f69b6e1c5f516991ee5cde58793865c6c561f575025680cb2233b9293e8",
        "train:c10_iddpm_simple": "a664ccf0f4a9fa58d5436d5ee5a1eafa9b0295979acfb08cf4449857c11f5863",
        "train:c10_iddpm_vlb": "8d2aec58515553d62019d1505dcac83f5ed964def1fb81452fac7ded4e497f3e",
        "train:in64_iddpm_simple": "318b8e05fd1f8d49e3ade292a43694e99f8bf837bff417b0c135a318dd4e893c",
        "train:in64_daed_simple_b01": "cf04d37222ce03c52ce5e62f61e7c8d23e756fa5f54cf7e749f2dedc84b4e56a",
        "train:in64_iddpm_vlb": "8cf4312b6f65c80150b96d6656abf2e224405ffbfe53d09e182410070932141a",
        "train:celeba_daed_simple_b0001": "208c5521a9e33e3e71298e3119f3afbd0cff697bf45228fcf1b26911128ad5c4",
        "train:celeba_daed_simple_b0025": "6abe4d8d986bbdd5fd2e65367ec96605b1bd59832ba430a849d6f07193d8c097",
        "train:celeba_daed_simple_b01": "e350ad620c10ca6c1f612c61b2e7bf15d86a38abf17bcd51eea67a3f81df670f",
        "train:celeba_daed_simple_b02": "a88e1aafd8347fb245803b2236d63ae0b0b99966309d56d29056895b50746469",
        "train:celeba_daed_vlb_b0025": "5f2326b2b07f589a3b47e030d26c6e1e561b60f0ae0f3d69ec7a9ad7d9b82bb9",
        "train:celeba_daed_vlb_b01": "906369fbfc1b1d13de31d4ec5a71875d23fc8e7cf0d7ab9ea3fea38780c09bfe",
        "train:celeba_daed_vlb_linear": "2b24ce4304e16fca4c1eb348b3adf138f957f05c584460efe5efe2e9afa4dc97",
        "train:celeba_ddgm_simple": "240995d0b3f1bca05c8e70957483184d8c69cd936b11ac74a26ba04fac345527",
        "train:celeba_ddgm_vlb": "5ce9b02b4678cd6c4f67b6d4af2cb2a95b05be4dedbb9c807cfdb0e7f013613c",
        "train:cw_daed": "b8ff87656f6e80bcbd3407148ab32ec1812ca2140d36e92a5630a488f75c5e63",
        "train:cw_ddgm_half": "d3a7acf7d35af358ef5856dccf677791d1b4d99c33c3b2db55c5d6ce09543c0c",
        "train:cw_deepres1": "d18b0feb522fdb8826fb86592f36e43a09fa864a1bb21408b35e0db5be907148",
        "train:cw_default": "d04f5249e4a60a848be600b09b449875d3321fbf93494dd6754b91ce8e67fe64",
        "train:cw_is": "fa8e416ff11ef5a9c23cf9364764fc0ff6f352ea71e9c92861c619a6a3ff504f",
        "train:cw_is2": "2d0c28aec742f64160e390a59799973fcf5c5effa19547ad1cdb2e36bec8149f",
        "train:cw_iwdiff": "8ba3ca4e3c3720e67b5d5e38d9d24063b445a4dc042c09203ca9592d45991022",
        "train:cw_iwdiff_is": "c8aea52940f4b8f08d4c80b3bc88c2d281c84a88f5f86c594649c76b0407dc2d",
        "train:cw_mbconv64": "c55696517697050c39c32cfe618652a892f213b8f2ac683ed22a3b3183a7189a",
        "train:cw_mbconv96": "cfea2d4f3071365a80191756fd616a325ab79458e313e31537ddc3a636084bbe",
        "train:cw_shallowres1": "806aee5b836b23a503f743835bd39e485d9efaa2d2a126074e91d4470d930854",
        "train:cw_shallowres2": "95af357ef58efd069a0585faa17e69612804a237e643c607b51ebf93471f2657",
        "train:cw_t100": "49866ce9d61b68e3f10aac6cc7168b066a39330ea2231e3a5976719fe3eef4ab",
        "train:daed_simple_b0001": "afa4a95315739ba38e7d74c521600ea785f875cda6539c3a1a1b7cf448db32df",
        "train:daed_simple_b0025": "a7c0b85d0a5fb742351512c8a33b99a9cbabb53014e18b1c567101e16b0e326f",
        "train:daed_simple_b01": "e61b5a38d7c525b15ed55b7798654cb0b210bf746c936e2f08634c6a3b71a219",
        "train:daed_simple_b02": "3ac54f00ac6c4c207dc06acd8ce33ae90037938f58b8e9b1ed50ebf9250c313d",
        "train:daed_simple_b03": "4f092fa60ec7c070f4280d93bf6014a3c167ddca98cb3eeea83e2f9c62ee833c",
        "train:daed_vlb_b0025": "1da3302ccd8ab1949949368211b534d36cf3c1782a7e9191f7108e5ce9c6ba76",
        "train:daed_vlb_b01": "aa4d1fb1147d0355908605c147c6e0dbd8a4e2a36b272bb8f26cb488be2a52cb",
        "train:daed_vlb_linear": "6833c1da67ac8e98c497ffe2818e8c68713721541daa674af0e1d35ba5f09cf7",
        "train:ddgm_simple": "e609a5cea4668d16930788cbe8515564b88d0db0b4bacf7a7716109ed75b1714",
        "train:ddgm_simple_deep": "db86d585fea6090b9d8fb9395cdb7432682ade844fd1d622333e588a44ac1835",
        "train:ddgm_simple_wide": "1eb5a9df8032be3767098554675bbfcef36a3634ee29955ae20413937a676b51",
        "train:ddgm_vlb": "1df923b46484b7b8f44d7a69b47745b0cb980e36b33e27dfccd2e3d3a26e2a23",
        "dddm:dddm_deep": "e9c3c82dea7ce66caaa03d7cc52eb7d86d2ef4e29816fb629051e71f32743771",
        "dddm:dddm_phuber_c1": "b12458c19a293deda8907c58bff1ccbba0cca311accea83e8afd050d65c52e60",
        "dddm:dddm_phuber_c2": "67e45974dde1ba213f352dd028e3fb6518346d3308afc45253f71c0720db15db",
        "dddm:dddm_plpips_c1": "3db6733dc090289f7ab32351110a03b46af05f700fc2b42300c21f5b6fb41df4",
        "dddm:dddm_plpips_c2": "30d196f76125dbff677d54e64bacc12b2199cdff530dec9f5f302af8cfaa4dc5",
        "dddm:dddm_plpips_c3": "b87cb8311243b9ebb67ce3089dcea30066600171c29a3180bae83ee7c140164d",
        "dddm:dddm_t2000": "6ebe613fa489e6286083829e3c8ff9e34d36030dcba0a25f2c5ad7134c558539",
        "dddm:dddm_t4000": "8d94cd4b4bde69bd9046044f7d0090a63a32284896cf5865690186cc214b5385",
        "dddm:dddm_t8000": "418b691a251f1a6fd7bf667674d22da9811fc1071290544dcd80dfcb12a40bb0",
        "dddmmeta:dddm_deep": "808cd1dfa90719e28054e4f75222118babc0ddd5d9734c375031fc9661ce6feb",
        "dddmmeta:dddm_phuber_c1": "b0d476de13647351b6e5d49397c725d60c4e5dca56a429b2b420286d17641cbe",
        "dddmmeta:dddm_phuber_c2": "05d065bdd0c9149d472e6a7d8f57af350012152fb5ab57ba3e536410d43b3d6b",
        "dddmmeta:dddm_plpips_c1": "b2bc6b85a422072e2e8773f9ed70a0c99086ac8a4e0ce015b7cc8883ac21f0eb",
        "dddmmeta:dddm_plpips_c2": "727e41bdc9f9cf301b5ccd5a5e4e5ad36b3a7e61bb69dbc14ef7cd68c5369523",
        "dddmmeta:dddm_plpips_c3": "5f4e63af71609e78986b1e8f384228e9e690b12596c52481b5b8e6854cb9a137",
        "dddmmeta:dddm_t2000": "d97ca68ec240cb880d215787e0bb23c4555fdb870b40372e3a077c79ceef6de1",
        "dddmmeta:dddm_t4000": "d4213dd0dbec8ef4e8440bf38f5b4b86b46e51a449dceb8fcf50cb35717cd208",
        "dddmmeta:dddm_t8000": "df88ad30847fd80c74ee4d9ad613e2d6e3bfa631d25cdc786eb8f902b147d07d",
    },
    "configs/small.yaml": {
        "train:ddgm_simple": "ca2296925c34d3e9f0fb16e7043ac35e6c6bff3b90bf3450339b1a0462483946",
        "meta:ddgm_simple": "f8ba4a87c21b7b41f210d0d8cd2306c7dfa3244d303f5ee8565c0199bd2e5bf9",
        "train:ddgm_vlb": "d133c85319760ad11be3d134d453b57e3f5cea22b662afc4ddd240e6258f82e4",
        "meta:ddgm_vlb": "6b0774c3c6727c33b482d5af7ac2afcb9c74270a010e02833d8b3944edbea7a7",
        "train:ddgm_simple_is": "6d3e1204dd92640fbb16643e2e62a8fc5c0284e096b61aefb1381a312f95a04c",
        "meta:ddgm_simple_is": "5119a50ddd45f0cd2d69df1de5871099ac469c4c0a21cde035ca8858d839302d",
        "train:daed_simple": "afd7b627a6b77322a09fce6ad2bbdabb5ee7d92dedfb44e8aea98f294bcf7a4a",
        "meta:daed_simple": "1348810bd0d882a2d291a5bd5e2a40064f048b53c994e5d9623aa1a5bd52e87c",
        "train:daed_vlb": "01924c9a03c7aeda7d3c06d9bf36ef1385b79e28f3dd332be2a46d47a6305b16",
        "meta:daed_vlb": "745717e7badcc79df74bb060c263663d5a00fafd9c2aef6ac4f4a86bad35a350",
        "dae:0.001": "e77d75c855aef9aa34edac2eebb6517635cac378d813d5abc987deb1aee84741",
        "dae:0.025": "b8d9b94003b56aaa8fd8812e710e68f0aed753c11c91eb2be73f36993ab8ec06",
        "dae:0.1": "415d3462b96bbe369114e2e5de2cdd931093c41a6b851a73e99ebf1cb08168ac",
        "dae:0.2": "0fb5eb493ab810b8d2bef290022a85c6523f15cc505d213a26a9139fb9b2e86f",
        "dae:0.3": "4f99c0470a58d89c70a21f53d119896d6b273f6503dd8c5347e7271fb92f34fd",
        "dae:linear": "34e7845ee93f8df6c101c65946f7e6c1ffd2697ca768d51318ffa0db7ac2a054",
        "gan:sngan": "a09afcef991c87eebb658b9633b647142aebc7bd21b1363b3bf5cd1bcc5c9d71",
        "ganmeta:sngan": "7391ade117b29db04318b3b60a30d9b1edb9b2d32aeb54381d950a180eacb98e",
        "dddm:dddm_phuber": "1b78837b1ddd2f413d158afb10f48396c3bb14e12b4c5cd8c0ceab5a0f1ba676",
        "dddmmeta:dddm_phuber": "fda94025ecf60ea4276fe1d97352b388beb47521a9020c91332f4a76785717bd",
        "dddm:dddm_l1": "bc6e440d81108cf4d9dfc787bab1d5ebc8fe10ac2923a678695e757c4dd206bf",
        "dddmmeta:dddm_l1": "e3815e3baaa83d86660e56abd8206da35bdcbb91071f3fa430433af69d1177bf",
        "dddm:dddm_l2": "0c3da94fb63e6532587e4fb9cd4e34445e921c15919af6c46d91ffb2afe08a34",
        "dddmmeta:dddm_l2": "644a45cf0fd3fe2d4761e7462ff66e7802739821f622f7204043912a9fbd52a4",
        "dddm-unreportable": "c934ab3b72272ef0b05ff7ac1f1d8852a5d663e72a1a8a6710a2c5355a818ff7",
    },
    "configs/coursework.yaml": {
        "dae:0.001": "40a984e05a59a6fc92b144fcaa42b0f23d6ea1081d9d9fa18ca37102a1843e48",
        "dae:0.025": "125966a0b96cca9f9b8ecdfce23b0643dfd1c0421dcbcb759e619ce7a780a6cf",
        "dae:0.1": "b3928513b57c2818fa4693daf8a5ef8e1615b6cd7e9b0a1b7b593c532d3aaa89",
        "dae:linear": "617d08d6da57e2601b0604e63071a23bea822a707f6b3b2a7e4d093c337ef3cf",
        "dddm-unreportable": "3a2af7aa98a25e3a305a13d8c3395c87adb79bd3c77dcbcfd1e9cb8dc327ba78",
        "dddm:dddm_l1": "d84d27c72513c458e9d3782b58b64b752c569e286d16f533ac06250f08380a88",
        "dddm:dddm_l2": "2c3fd4f14a0a45c10695b827f1e0cf8b7568c52d34dd51a035fdde34445c377a",
        "dddm:dddm_lpips": "b803a334518df1dd2d358b693844f948614023ab23a5f43ad57f55bd784cf546",
        "dddm:dddm_phuber": "478a07a936b0a29ca8c7362a323bfe15a5ce63e2e8871a073caa65abdc0bf957",
        "dddm:dddm_pseudo_lpips": "fa2db3bf06b7d6dc21b36b706136e5e59aa2712bb61f51b02792c1ebda624e9b",
        "dddmmeta:dddm_l1": "da2396501835556b678afaefd59eabb6fb51ac287b5ef20a767502585a48e391",
        "dddmmeta:dddm_l2": "b656361672c7579aec07c47bdff8a8fdaa4e28dafd9a6a51924ef65510db7dec",
        "dddmmeta:dddm_lpips": "aa03ab3323d8ca3f79a2fc57978b042aa751aeb4c623ec65064b1bb12297dc18",
        "dddmmeta:dddm_phuber": "eb8eb278a92f38c83a6a19fa3ab305a79bcb7b3b9ee8117cfd46212d729790ad",
        "dddmmeta:dddm_pseudo_lpips": "ba7a2ee2b2ffd1218027f33f676af91dbec7d3727c58744f2461c6408c9f71c2",
        "gan:sngan": "c787b4cb8e632631912ee23cfa6f2d95347a9f83caa7ed150297fc4f063fc900",
        "ganmeta:sngan": "4d8d18e17f443ceecb1a8cee7f8c01f34ee587d52f64de675c4bc7161a555f25",
        "meta:cw_daed": "36ca2b33e008bd2f710f94b81736f1d021507dc834b703160c189becdbdf3da6",
        "meta:cw_deepres1": "f56ea145bfa7fdbdcd8191702baa91f5cbb1fa09f669d4e0af72e1562994b03e",
        "meta:cw_default": "8ef362993553dc3ebd7cd04a90282823825d1db961cbc8dc75f35f3c9cace640",
        "meta:cw_is": "9f9c4159f50092f1a9152d7b1ba1264c1c5a0a40eacafae851686f3374f19bff",
        "meta:cw_is2": "2f5debc57f41b2081f4ac978131bd8c7b93c36f07d71b0d1283668b60ddc29e1",
        "meta:cw_iwdiff": "88a575e43e8402fa2dfd631d51548b6da8d8a83a252f6c485dd47566c55f0c19",
        "meta:cw_iwdiff_is": "71c00849ff74d1f13e948b8dc583e30b08d627035ddfc5f4d2a41267617704fc",
        "meta:cw_mbconv64": "ce88f1b9d48f1d4d4d22d29594d52aa5ffb142262bc227d8426b263c64c488d4",
        "meta:cw_mbconv96": "6ff5463d966eb3475840d392d692d5b6cf552b56d42a2c4ba95bf69d0cb9ca23",
        "meta:cw_shallowres1": "78bf273c7b59bd01b6cc5c97b83d9c477d42f82335feefc7e532000a113cb4e8",
        "meta:cw_shallowres2": "3bcf9d3c62dd750920271ce1789e16256d0b879273b9df2c9a30f28d7aa0e472",
        "meta:cw_t100": "538d44425ac706ebf3cb7b629a166c89bc9dc1c66a0d79be3d658e7e53f6a568",
        "meta:ddgm_half": "9940dd171785b07d45e3066f4f2e334914d26a1a1bcb7e14943c0891cd6a73e6",
        "train:cw_daed": "b8ff87656f6e80bcbd3407148ab32ec1812ca2140d36e92a5630a488f75c5e63",
        "train:cw_deepres1": "d18b0feb522fdb8826fb86592f36e43a09fa864a1bb21408b35e0db5be907148",
        "train:cw_default": "d04f5249e4a60a848be600b09b449875d3321fbf93494dd6754b91ce8e67fe64",
        "train:cw_is": "fa8e416ff11ef5a9c23cf9364764fc0ff6f352ea71e9c92861c619a6a3ff504f",
        "train:cw_is2": "2d0c28aec742f64160e390a59799973fcf5c5effa19547ad1cdb2e36bec8149f",
        "train:cw_iwdiff": "8ba3ca4e3c3720e67b5d5e38d9d24063b445a4dc042c09203ca9592d45991022",
        "train:cw_iwdiff_is": "c8aea52940f4b8f08d4c80b3bc88c2d281c84a88f5f86c594649c76b0407dc2d",
        "train:cw_mbconv64": "c55696517697050c39c32cfe618652a892f213b8f2ac683ed22a3b3183a7189a",
        "train:cw_mbconv96": "cfea2d4f3071365a80191756fd616a325ab79458e313e31537ddc3a636084bbe",
        "train:cw_shallowres1": "806aee5b836b23a503f743835bd39e485d9efaa2d2a126074e91d4470d930854",
        "train:cw_shallowres2": "95af357ef58efd069a0585faa17e69612804a237e643c607b51ebf93471f2657",
        "train:cw_t100": "49866ce9d61b68e3f10aac6cc7168b066a39330ea2231e3a5976719fe3eef4ab",
        "train:ddgm_half": "d6427bc6fe8aeb1562add3255628b7f23f8ce19c8b93ac78de667c97bf38a6c6",
    },
}
