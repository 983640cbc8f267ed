"""The seed's comparison, predicted: resnet34 on the pets photos, this CPU against Colab and GCP.

The seed (fastai, resnet34, Oxford-IIIT Pet, 7,390 images, 4 epochs) published 2:24:00 on a
laptop CPU and 01:46 on a Colab GPU. This script measures this machine with pets-size JPEGs
(made on the spot: 500x375, the photos' typical size) so that JPEG decoding is part of the
prediction, then predicts the same training here, on Colab's free T4 (2 vCPUs) and on two GCP
machines, and prints them beside the seed's figures.

    python examples/seed_comparison.py        # about 2 minutes on a 2-core machine
"""

import tempfile
from pathlib import Path

import advisor
from advisor import Workload, profile_machine
from advisor.measure.sampledata import write_image_folder
from advisor.model.units import hms, money

with tempfile.TemporaryDirectory() as tmp:
    photos = write_image_folder(Path(tmp) / "pets", classes=4, per_class=40)
    pets = Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=7390, epochs=4,
                    data_dir=str(photos), workers=1)
    print("Measuring this machine with pets-size JPEGs (one loader worker)...", flush=True)
    profile = profile_machine(pets, device="cpu", budget_s=90)
    advice = advisor.recommend(pets, profile)

chosen = {"local": "this machine", "colab:free-t4": "Colab free T4", "gcp:n1-standard-8-t4": "GCP T4",
          "gcp:a2-highgpu-1g": "GCP A100"}
seed = {"local": "2:24:00 (laptop CPU)", "colab:free-t4": "0:01:46 (Colab GPU)"}
print(f"\n{'where':<14} {'predicted':>9} {'band':>19} {'img/s':>6} {'cost':>7}  {'bottleneck':<15} seed published")
for option in advice.options:
    if option.id in chosen:
        e = option.estimate
        cost = "N/A" if option.cost_usd is None else money(option.cost_usd)
        print(f"{chosen[option.id]:<14} {hms(e.seconds):>9} {hms(e.seconds_low) + '-' + hms(e.seconds_high):>19} "
              f"{e.train_images_per_s:6.0f} {cost:>7}  {e.bottleneck:<15} {seed.get(option.id, '')}")
print(f"\nRecommendation: {advice.recommendation.reason}")
print("The seed's CPU was a laptop's, not this one; its GPU run used fastai's loader and whichever "
      "GPU Colab assigned (K80, T4, P100 or V100).")
