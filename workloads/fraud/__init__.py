"""The payment fraud-detection workload (report chapter 5 and figure 2-3): a RandomForest trainer, the
Flask classification API and the Kafka stream scorer. Application code only: never imports pulumi or infra."""
